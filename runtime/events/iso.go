package events

import "strings"

// currencies lists the active ISO 4217 codes of circulating currencies, each
// followed by its minor-unit exponent. Fund codes (BOV, CHE, CHW, CLF, COU,
// MXV, USN, UYI, UYW), precious metals, SDR and test codes (X* other than
// the CFA, CFP and East Caribbean francs and dollars) are left out: nobody
// pays for an order in them. Withdrawn codes (HRK, SLL, ZWL, CUC, ANG) are
// left out too. Source: ISO 4217 list one, as amended to 2025.
const currencies = `
AED2 AFN2 ALL2 AMD2 AOA2 ARS2 AUD2 AWG2 AZN2 BAM2 BBD2 BDT2 BGN2 BHD3 BIF0
BMD2 BND2 BOB2 BRL2 BSD2 BTN2 BWP2 BYN2 BZD2 CAD2 CDF2 CHF2 CLP0 CNY2 COP2
CRC2 CUP2 CVE2 CZK2 DJF0 DKK2 DOP2 DZD2 EGP2 ERN2 ETB2 EUR2 FJD2 FKP2 GBP2
GEL2 GHS2 GIP2 GMD2 GNF0 GTQ2 GYD2 HKD2 HNL2 HTG2 HUF2 IDR2 ILS2 INR2 IQD3
IRR2 ISK0 JMD2 JOD3 JPY0 KES2 KGS2 KHR2 KMF0 KPW2 KRW0 KWD3 KYD2 KZT2 LAK2
LBP2 LKR2 LRD2 LSL2 LYD3 MAD2 MDL2 MGA2 MKD2 MMK2 MNT2 MOP2 MRU2 MUR2 MVR2
MWK2 MXN2 MYR2 MZN2 NAD2 NGN2 NIO2 NOK2 NPR2 NZD2 OMR3 PAB2 PEN2 PGK2 PHP2
PKR2 PLN2 PYG0 QAR2 RON2 RSD2 RUB2 RWF0 SAR2 SBD2 SCR2 SDG2 SEK2 SGD2 SHP2
SLE2 SOS2 SRD2 SSP2 STN2 SVC2 SYP2 SZL2 THB2 TJS2 TMT2 TND3 TOP2 TRY2 TTD2
TWD2 TZS2 UAH2 UGX0 USD2 UYU2 UZS2 VED2 VES2 VND0 VUV0 WST2 XAF0 XCD2 XCG2
XOF0 XPF0 YER2 ZAR2 ZMW2 ZWG2
`

// countries lists the ISO 3166-1 alpha-2 codes officially assigned (249).
const countries = `
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL
BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV
CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD
GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM
IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK
LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW
MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR
PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS
ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY
UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
`

// The tables are indexed by the letters of the code, so a lookup is one
// array read and no hashing.
var (
	currencyTable [26 * 26 * 26]uint8 // exponent+1; 0 for unknown codes
	countryTable  [26 * 26]bool
)

func init() {
	for _, c := range strings.Fields(currencies) {
		currencyTable[letters3(c[:3])] = c[3] - '0' + 1
	}
	for _, c := range strings.Fields(countries) {
		countryTable[letters2(c)] = true
	}
}

func letters2(s string) int { return int(s[0]-'A')*26 + int(s[1]-'A') }

func letters3(s string) int { return letters2(s)*26 + int(s[2]-'A') }

func upper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// currencyExponent returns the number of minor-unit digits of an active
// ISO 4217 currency code; ok is false for other strings, lower case included.
func currencyExponent(code string) (exp int, ok bool) {
	if len(code) != 3 || !upper(code) {
		return 0, false
	}
	e := currencyTable[letters3(code)]
	return int(e) - 1, e != 0
}

// validCountry reports whether code is an assigned ISO 3166-1 alpha-2 code.
func validCountry(code string) bool {
	return len(code) == 2 && upper(code) && countryTable[letters2(code)]
}

// CurrencyCodes returns the currency codes Validate accepts, sorted.
func CurrencyCodes() []string {
	f := strings.Fields(currencies)
	for i, c := range f {
		f[i] = c[:3]
	}
	return f
}

// CountryCodes returns the country codes Validate accepts, sorted.
func CountryCodes() []string { return strings.Fields(countries) }
