// Package generator produces a seeded, deterministic stream of realistic
// commerce events (transactions, user events, product updates) for demos,
// load tests and detector evaluation. `ecap generate` is its command line;
// New, Next, Stats and Run are its API.
//
// # Determinism
//
// One PCG stream (math/rand/v2) seeded from Config.Seed drives every
// choice. Nothing reads the wall clock or iterates a map into the output:
// event times start at Config.Start (DefaultStart, 2025-09-01T00:00:00Z,
// unless told otherwise) and IDs (UUID-shaped event IDs, o-/s-/d-/fp_ hex
// IDs) come from the stream. The same Config gives the same records, byte
// for byte. A live run (`--start now`) is anchored at the wall clock but
// otherwise just as determined by the seed.
//
// Records come out in event-time order: a session's events are simulated
// when it starts and held in a queue until the simulation clock passes
// them. The exceptions are bad-input records (below).
//
// # Customers
//
// The population follows the story of BG/NBD and Gamma-Gamma (Fader,
// Hardie and Lee 2005), with defaults close to the published retail (CDNOW)
// fits:
//
//   - purchase rate λ ~ Gamma(r=0.25, α=4 weeks): 0.0625 purchases a week on
//     average, very unevenly spread;
//   - after each purchase the customer drops out for good with probability
//     p ~ Beta(a=0.8, b=2.4) (mean 0.25);
//   - an order's target value is Gamma(p=6, ν), ν ~ Gamma(q=4, γ=40): a mean
//     order of 80 (in Config.Currency, USD by default), right-skewed;
//   - Config.Customers (1000) exist at the start and Customers/50 new ones
//     arrive per day (Poisson).
//
// A customer's sessions arrive at λ/SessionConversion, so purchases arrive
// at about λ. Each customer has a home city, one or two devices (stable
// IDs, 2% of sessions add a new one), a home IP in the city's block
// (mobile orders move within it), a favourite category and a payment
// method: card 60% (fingerprint and BIN), PayPal 20%, Apple Pay 10%,
// Google Pay 7%, bank transfer 3%.
//
// Customers count as such from acquisition, not from a first purchase, and
// many never buy. A BG/NBD fit on the transactions therefore sees a
// population selected towards higher λ: `ecap segment` on 100 days of
// default output fits r≈0.7, α≈4.6, a≈0.4, b≈3.1.
//
// # Catalogue
//
// Config.Products (200) products over nine categories, with log-normal
// prices and gross margins by category: electronics (median 180, margin
// 15%), fashion (45, 55%), home (60, 40%), beauty (25, 60%), sports (55,
// 35%), books (18, 25%), grocery (12, 20%), toys (30, 40%), digital (40,
// 85%); 25 marketplace merchants. Every product is emitted as a
// product_update at the start; afterwards Products/100 price changes a day
// (±5-15%, never below cost) are emitted as they happen.
//
// # Sessions
//
// A session lands with a page_view carrying its campaign touchpoint:
// google/cpc 30%, facebook/paid_social 15%, newsletter/email 15%, direct
// (no UTM) 40%; promo days run promo_YYYYMMDD campaigns. 35% search. Then
// the funnel, with these conversions outside promo days:
//
//	page_view -> product_view    60%  (RateProductView)
//	product_view -> add_to_cart  25%  (RateAddToCart)
//	add_to_cart -> checkout      60%  (RateCheckout)
//	checkout -> purchase         70%  (RatePurchase)
//	session -> purchase          6.3% (SessionConversion)
//
// 15% of carts add an extra product and remove it (remove_from_cart). The
// basket is one to three products near the customer's target order value.
// The purchase user event and the transaction share the event time and
// carry the same ID (order_id = transaction_id). Events are 5s plus an
// exponential 40s apart. Measured over 60k records: 59.3%, 24.8%, 60.5%,
// 71.7%; mean order 82, median 65, p95 198; 46% of buyers bought on two
// or more days over seven months (300 initial customers).
//
// # Calendar
//
// Sessions are thinned by a multiplier of local hour (trough at 3-5h, peak
// at 20-21h, 25 times the trough), weekday (Sunday +15%, Friday
// -12%), month (January 0.85 of the mean, November 1.35, December 1.55)
// and promo days. Every 14th day (Config.PromoEveryDays, counted from the
// Unix epoch), Black Friday and Cyber Monday are promo days: traffic x1.6,
// add-to-cart x1.5, checkout x1.2, and 20% off every line.
//
// # Fraud
//
// Fraudulent transactions carry label {fraud: true, pattern: ...};
// legitimate ones carry {fraud: false}, so the data set is fully labelled.
// The label is ground truth for backtests only; the runtime must never use
// it for scoring. Rates are fraudulent transactions per 1000 legitimate
// ones (Config.FraudRates, --fraud-rate); each pattern earns rate/1000
// credit per legitimate transaction and fires an episode when the credit
// covers it, so the configured rate holds within half an episode even on
// short runs. Defaults: 4, 2, 1.5, 2, 1.5 (about 1.1% fraud).
//
//   - card_testing: a new account probes a new card with 8-20 gift-card
//     orders of 0.50-5.00, 5-40s apart, one device and IP.
//   - account_takeover: an established customer's account (2+ purchases)
//     from a new device in another country at least 1000 km away, 1-3
//     orders of 5-10 times the customer's mean spend (at least 400), mostly
//     on the stored payment method.
//   - impossible_travel: 10-50 minutes after a customer's order at home, an
//     order on the same account from a city at least 3000 km away.
//   - amount_anomaly: one order at home on the usual device and payment,
//     8-15 times the customer's mean spend (at least 300).
//   - colluding_merchant: 4-10 orders, minutes apart, from fresh accounts
//     whose cards share a BIN and whose IPs share a /24, all at one merchant
//     (Generator.ColludingMerchant).
//
// Fraud has no browsing sessions, so it leaves the funnel alone.
//
// # Bad input
//
// With Config.BadFraction F, each call of Next returns a bad record with
// probability F, derived from the latest good record; Record.Bad and
// Stats.Bad say why. ExpectedRejection maps each reason to the validator's
// rejection: malformed_json (payload cut in half), missing_field (empty
// customer_id, session_id or category), wrong_type (schema_version as a
// string), absurd_value (quantity 5,000,000, latitude 123.4 or a negative
// price; out_of_range), late (a copy with a new event_id and an event_time
// 30-90 days back; timestamp_skew against a validator whose clock follows
// the stream, accepted by a backfill with a large MaxAge), unknown_currency
// (XYZ, ABC, BTC, EURO; invalid_currency). duplicate re-sends a good record
// unchanged: it passes validation and only deduplication drops it.
//
// # Output
//
// Run pulls records into a Sink in batches: KafkaSink (kafkaio, acks=all,
// keyed by customer ID, products by product ID) or FileSink (one NDJSON
// file per kind). RunOptions.Rate caps the pace; RunOptions.Live holds
// records until the wall clock reaches their event time. A live run that
// wants a useful rate from a small population raises Config.TimeScale
// (NaturalRate estimates the unscaled rate), which compresses lifetimes and
// the wait before each fraud episode, not sessions or the timing inside an
// episode.
package generator
