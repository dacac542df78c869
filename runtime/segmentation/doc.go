// Package segmentation computes customer analytics from purchase
// transactions: per-customer summaries, the BG/NBD model of purchase counts
// and dropout, the gamma-gamma model of transaction value, customer
// lifetime value, RFM scores and segments, and cohort retention. It is pure
// Go with no Kafka or Kubernetes dependency; the runtime and the
// `ecap segment` command drive it.
//
// # Data flow
//
//	ReadTransactions -> Accumulator -> []Customer -> NewFitInput -> Merge -> Fit -> Model
//	                    (one Summary      |           (multisets,                    |
//	                     per customer)    |            no IDs)                       |
//	                                      +------------> Model.Score <---------------+
//	                                                          |
//	                                                    []Row -> Result, WriteCSV
//
// An Accumulator folds (customer, time, amount) observations into one
// Summary per customer. Purchases count per UTC calendar day: all purchases
// of one day are one transaction whose value is their sum, as in the
// CDNOW analyses of Fader, Hardie & Lee. The calibration period ends with a
// given day, inclusive; later observations are dropped (and counted), so
// the fit sees the calibration period only. Summaries tolerate purchases
// arriving up to 63 days behind the customer's latest purchase day.
//
// Accumulator.Customers derives, in days or weeks, the classical summary:
// frequency x (repeat purchase days), recency t_x (last minus first purchase
// day), age T (calibration end day minus first purchase day) and monetary
// (mean value of the repeat days). With the CDNOW sample and a calibration
// end of 1997-09-30 this reproduces the published summary (T = 272 days =
// 38.86 weeks for a first purchase on 1997-01-01) and the BG/NBD estimates
// of FHL 2005, Table 1.
//
// # Multi-replica design
//
// The runtime spreads customers over replicas; a customer's state lives on
// one replica. The model must nevertheless be the one a single replica
// would fit on all customers, bit for bit. That works because each part of
// the fit depends on the customers only through a multiset:
//
//   - the BG/NBD likelihood is a sum over customers of a function of
//     (x, t_x, T), so the multiset of those triples is sufficient;
//   - the gamma-gamma likelihood is a sum over repeat customers of a
//     function of (x, mean repeat value);
//   - the RFM thresholds are order statistics of the recency gaps T - t_x,
//     the frequencies x and the spends.
//
// FitInput carries exactly these three multisets, as (value, count)
// entries, without customer IDs (and, when cohorts are computed, a fourth
// one the fit ignores; see Cohorts). Fit canonicalises its input first: each
// multiset is sorted and equal entries are merged into counts. The
// canonical form depends only on the multisets, so the likelihood is summed
// over the same entries in the same order whatever the split, and the
// deterministic optimiser (BFGS from a data-derived start, run serially)
// returns the same estimates to the last bit. TestShardedFitIsBitIdentical
// checks this on CDNOW split three ways. The equality holds for one build
// of the fitting code on one architecture, which is what the replicas of
// one Pipeline run.
//
// The runtime (runtime/engine, segmentation*.go) exchanges these parts
// without a leader. A run has an ID every replica derives alone: the
// schedule slot ("slot-<unix seconds>"; "@every" slots are aligned to the
// epoch) or the run-now annotation value ("now-<value>"). For a run, each
// replica copies the summaries of its owned partitions, builds and
// canonicalises one FitInput per partition, and publishes each, tagged with
// Segmentation, generation, run ID, partition and the state's input offset
// (chunked under Kafka's message limit), to the internal topic
// "<pipeline>-segmentation-parts" (one partition, six hours' retention).
// Every replica reads that topic from its start and waits until it holds a
// part for every partition of the transactions topic (its own from memory;
// at most two minutes), merges them in partition order and fits: every
// replica computes the same Model, and scores only its own customers. A
// replica owning every partition publishes nothing and waits for nothing.
// If partitions move during a run, two parts of one partition may exist;
// the one with the higher input offset wins, so replicas that saw
// different parts at their deadline could differ for that one run, and the
// next run agrees again. TestSegmentationReplicasFitTheSingleReplicaModel
// (runtime/engine) runs two replicas of one consumer group against a
// single one on CDNOW and requires bit-identical parameters.
//
// Canonicalisation also makes the exchange compact: times are whole days,
// so many customers share a triple (all one-time buyers of one day share
// (0, 0, T)), and a part can be canonicalised before it is sent. The spend
// multiset is the largest part, up to one entry per customer.
//
// Scores need nothing but the Model and the customer's own summary, so they
// too equal the single-replica ones.
//
// # Models
//
// BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way")
// is fitted by maximum likelihood over log parameters with gonum's BFGS and
// an analytic gradient. The log-likelihood is evaluated in log space with
// log-gamma functions and a log-sum-exp of its two terms, so customers with
// hundreds of repeat purchases neither overflow nor lose precision; the
// x-dependent gamma functions are evaluated once per distinct x. P(alive)
// and the conditional expected purchases E[Y(t) | x, t_x, T] follow the
// paper; the hypergeometric function of the latter is summed after an
// Euler transformation whose series converges fast for any x (see
// BGNBD.ExpectedPurchases).
//
// Gamma-gamma (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value
// Curves for Customer Base Analysis"; Fader & Hardie 2013, "The Gamma-Gamma
// Model of Monetary Value") is fitted the same way on repeat customers with
// a positive mean value. CLV discounts the expected value of the purchases
// expected in each of a number of periods (CLVConfig).
//
// RFM scores are quantile scores by minimum rank, so ties share a score
// (RFMModel); recency ranks T - t_x, frequency ranks x and monetary ranks
// total spend over the calibration period. Segments come from an ordered
// rule table (SegmentRule, DefaultSegmentRules).
//
// # Cohorts
//
// CohortBuilder gives retention by acquisition month from transactions
// (`ecap segment --cohorts`). The runtime has no transactions, only each
// customer's acquisition month and active months; CohortCounter tallies
// those into (acquisition month, months since, count) entries over the
// Months months ending with the calibration end's month, FitInput carries
// them as a fourth multiset (Cohorts), and CohortMatrixOf turns the merged
// multiset into the same rows CohortBuilder gives. Like the model, the
// matrix is therefore the same on every replica and equal to the single-
// replica one.
//
// # Calibration end in the past
//
// The runtime's customer state summarises all purchases, including those
// after a calibration end. For each Segmentation with spec.calibrationEnd
// the state keeps, per customer with purchases on both sides of that day,
// the summary frozen at it (runtime/state, "Summaries frozen at
// calibration ends"); the runtime reads the summary at the calibration end
// through state.Customer.AsOf, so a run sees exactly the calibration
// period whatever came later. CustomerOf's PurchasedAfterEnd standing
// remains for summaries without that help. A calibration end the runtime
// learns of after customers crossed it is unknown for those customers:
// they are left out and counted (runtime/engine, calibrationUnknown), not
// guessed.
//
// # Batch input
//
// ReadTransactions and ScanTransactions read the input of `ecap segment`:
// NDJSON transaction events or CSV, detected from the first byte, with bad
// lines rejected by line number and field (ParseError).
package segmentation
