package generator

import (
	"math/rand/v2"
	"net/netip"
)

// City is one entry of the built-in geography. Coordinates are the city
// centre; UTCOffset is standard time (daylight saving is ignored); IPPrefix
// is the first two octets of the made-up address block its customers get.
type City struct {
	Name      string
	Country   string
	Lat, Lon  float64
	UTCOffset int
	IPPrefix  [2]byte
	// Weight is the city's relative share of new customers.
	Weight float64
}

// Cities is the built-in geography, weighted towards the markets of a
// Western European / North American shop with an international tail.
var Cities = []City{
	{"New York", "US", 40.7128, -74.0060, -5, [2]byte{23, 20}, 10},
	{"Los Angeles", "US", 34.0522, -118.2437, -8, [2]byte{23, 40}, 7},
	{"Chicago", "US", 41.8781, -87.6298, -6, [2]byte{23, 60}, 5},
	{"Houston", "US", 29.7604, -95.3698, -6, [2]byte{23, 80}, 4},
	{"Miami", "US", 25.7617, -80.1918, -5, [2]byte{23, 100}, 3},
	{"Seattle", "US", 47.6062, -122.3321, -8, [2]byte{23, 120}, 3},
	{"Toronto", "CA", 43.6532, -79.3832, -5, [2]byte{24, 10}, 4},
	{"Vancouver", "CA", 49.2827, -123.1207, -8, [2]byte{24, 30}, 2},
	{"Mexico City", "MX", 19.4326, -99.1332, -6, [2]byte{187, 10}, 3},
	{"São Paulo", "BR", -23.5505, -46.6333, -3, [2]byte{177, 20}, 3},
	{"Buenos Aires", "AR", -34.6037, -58.3816, -3, [2]byte{181, 30}, 1.5},
	{"London", "GB", 51.5074, -0.1278, 0, [2]byte{81, 10}, 8},
	{"Manchester", "GB", 53.4808, -2.2426, 0, [2]byte{81, 30}, 3},
	{"Dublin", "IE", 53.3498, -6.2603, 0, [2]byte{86, 40}, 1.5},
	{"Paris", "FR", 48.8566, 2.3522, 1, [2]byte{90, 10}, 6},
	{"Lyon", "FR", 45.7640, 4.8357, 1, [2]byte{90, 30}, 2},
	{"Berlin", "DE", 52.5200, 13.4050, 1, [2]byte{91, 10}, 6},
	{"Munich", "DE", 48.1351, 11.5820, 1, [2]byte{91, 30}, 3},
	{"Madrid", "ES", 40.4168, -3.7038, 1, [2]byte{88, 10}, 4},
	{"Barcelona", "ES", 41.3874, 2.1686, 1, [2]byte{88, 30}, 3},
	{"Milan", "IT", 45.4642, 9.1900, 1, [2]byte{93, 40}, 3},
	{"Amsterdam", "NL", 52.3676, 4.9041, 1, [2]byte{145, 10}, 3},
	{"Stockholm", "SE", 59.3293, 18.0686, 1, [2]byte{78, 70}, 2},
	{"Warsaw", "PL", 52.2297, 21.0122, 1, [2]byte{83, 20}, 2},
	{"Istanbul", "TR", 41.0082, 28.9784, 3, [2]byte{85, 100}, 2},
	{"Dubai", "AE", 25.2048, 55.2708, 4, [2]byte{94, 200}, 1.5},
	{"Lagos", "NG", 6.5244, 3.3792, 1, [2]byte{105, 110}, 1},
	{"Mumbai", "IN", 19.0760, 72.8777, 5, [2]byte{103, 20}, 2},
	{"Singapore", "SG", 1.3521, 103.8198, 8, [2]byte{118, 200}, 1.5},
	{"Tokyo", "JP", 35.6762, 139.6503, 9, [2]byte{126, 30}, 3},
	{"Sydney", "AU", -33.8688, 151.2093, 10, [2]byte{101, 160}, 2},
}

var cityCum = func() []float64 {
	w := make([]float64, len(Cities))
	for i, c := range Cities {
		w[i] = c.Weight
	}
	return cumulative(w)
}()

// cityIP returns an address in city's block.
func cityIP(r *rand.Rand, city int) netip.Addr {
	p := Cities[city].IPPrefix
	return netip.AddrFrom4([4]byte{p[0], p[1] + byte(r.IntN(16)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
}

// farCity returns a city at least minKm from city, or -1.
func farCity(r *rand.Rand, city int, minKm float64) int {
	from := Cities[city]
	n := 0
	choice := -1
	for i, c := range Cities {
		if haversineKm(from.Lat, from.Lon, c.Lat, c.Lon) >= minKm {
			n++
			if r.IntN(n) == 0 { // reservoir sample: uniform over qualifying cities
				choice = i
			}
		}
	}
	return choice
}

// foreignCity returns a city in another country than city's, at least
// minKm away.
func foreignCity(r *rand.Rand, city int, minKm float64) int {
	from := Cities[city]
	n := 0
	choice := -1
	for i, c := range Cities {
		if c.Country != from.Country && haversineKm(from.Lat, from.Lon, c.Lat, c.Lon) >= minKm {
			n++
			if r.IntN(n) == 0 {
				choice = i
			}
		}
	}
	return choice
}

func netipFrom4(b [4]byte) netip.Addr { return netip.AddrFrom4(b) }
