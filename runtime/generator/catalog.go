package generator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Category is one catalogue category: its price distribution (log-normal
// around MedianPrice), gross margin (price-cost)/price, and share of browsing.
type Category struct {
	Name        string
	MedianPrice float64
	PriceSigma  float64
	Margin      float64
	Weight      float64
	Brands      []string
	Nouns       []string
}

// Categories is the built-in catalogue structure. Margins follow the usual
// retail ordering: thin on electronics and grocery, fat on beauty and
// fashion, near-total on digital goods.
var Categories = []Category{
	{"electronics", 180, 0.9, 0.15, 1.2, []string{"Voltix", "Nordtek", "Pixelle", "Aurion"},
		[]string{"Headphones", "Smartwatch", "Tablet", "Speaker", "Camera", "Monitor", "Laptop", "Charger"}},
	{"fashion", 45, 0.6, 0.55, 1.5, []string{"Maison Vert", "Urbanline", "Kestrel", "Solenne"},
		[]string{"T-Shirt", "Jeans", "Sneakers", "Jacket", "Dress", "Scarf"}},
	{"home", 60, 0.8, 0.40, 1.0, []string{"Hearthwell", "Casa Nova", "Lumen & Co"},
		[]string{"Lamp", "Cookware Set", "Throw Blanket", "Vase", "Coffee Maker"}},
	{"beauty", 25, 0.5, 0.60, 0.9, []string{"Lumière", "Petal Lab", "Verdant"},
		[]string{"Serum", "Moisturiser", "Lipstick", "Perfume", "Shampoo"}},
	{"sports", 55, 0.7, 0.35, 0.8, []string{"Stridex", "Peakform", "Aquila"},
		[]string{"Yoga Mat", "Running Shoes", "Dumbbells", "Tent", "Bike Helmet"}},
	{"books", 18, 0.4, 0.25, 0.7, []string{"Inkwell Press", "Marigold Books"},
		[]string{"Novel", "Cookbook", "Atlas", "Biography"}},
	{"grocery", 12, 0.5, 0.20, 0.8, []string{"Harvest Lane", "Oak & Grain"},
		[]string{"Coffee Beans", "Olive Oil", "Tea Sampler", "Chocolate Box"}},
	{"toys", 30, 0.6, 0.40, 0.6, []string{"Brickly", "Wonderbox"},
		[]string{"Building Set", "Puzzle", "Plush Bear", "Board Game"}},
	{"digital", 40, 0.5, 0.85, 0.5, []string{"Streamly", "Cloudnote"},
		[]string{"E-Gift Card", "Software Licence", "Subscription"}},
}

// merchantCount is the number of marketplace sellers products are spread
// over.
const merchantCount = 25

// product is one catalogue entry as the generator tracks it.
type product struct {
	id       string
	name     string
	category int
	brand    string
	merchant string
	price    float64
	cost     float64
}

// catalog is the product list plus per-category indexes sorted by price.
type catalog struct {
	products    []product
	byCategory  [][]int // product indexes of each category, by ascending price
	categoryCum []float64
	giftCard    int // the digital gift card sold in custom amounts (card testing)
}

func newCatalog(r *rand.Rand, size int) *catalog {
	c := &catalog{byCategory: make([][]int, len(Categories)), giftCard: -1}
	w := make([]float64, len(Categories))
	for i, cat := range Categories {
		w[i] = cat.Weight
	}
	c.categoryCum = cumulative(w)
	for i := range size {
		ci := i % len(Categories) // every category gets its share
		if i >= len(Categories) {
			ci = pick(r, c.categoryCum)
		}
		cat := &Categories[ci]
		price := roundCents(math.Max(1, cat.MedianPrice*math.Exp(cat.PriceSigma*r.NormFloat64())))
		if price > 5000 {
			price = 5000
		}
		margin := cat.Margin * (0.8 + 0.4*r.Float64())
		noun := cat.Nouns[r.IntN(len(cat.Nouns))]
		brand := cat.Brands[r.IntN(len(cat.Brands))]
		p := product{
			id:       fmt.Sprintf("P%05d", i+1),
			name:     fmt.Sprintf("%s %s %c%d", brand, noun, 'A'+rune(r.IntN(26)), 100+r.IntN(900)),
			category: ci,
			brand:    brand,
			merchant: merchantID(r.IntN(merchantCount)),
			price:    price,
			cost:     roundCents(price * (1 - margin)),
		}
		if cat.Name == "digital" && c.giftCard < 0 {
			p.name = brand + " E-Gift Card (custom amount)"
			c.giftCard = i
		}
		c.products = append(c.products, p)
		c.byCategory[ci] = append(c.byCategory[ci], i)
	}
	c.sort()
	return c
}

func merchantID(i int) string { return fmt.Sprintf("M%03d", i+1) }

func (c *catalog) sort() {
	for ci := range c.byCategory {
		c.sortCategory(ci)
	}
}

func (c *catalog) sortCategory(ci int) {
	idx := c.byCategory[ci]
	sort.SliceStable(idx, func(a, b int) bool { return c.products[idx[a]].price < c.products[idx[b]].price })
}

// indexOf returns the index of the product with id; IDs are P%05d of
// index+1.
func (c *catalog) indexOf(id string) int {
	n := 0
	for _, d := range id[1:] {
		n = n*10 + int(d-'0')
	}
	return n - 1
}

// near returns a product of category cat priced close to target: one of the
// few neighbours of the price's position, so baskets stay varied.
func (c *catalog) near(r *rand.Rand, cat int, target float64) int {
	idx := c.byCategory[cat]
	if len(idx) == 0 {
		return r.IntN(len(c.products))
	}
	i := sort.Search(len(idx), func(i int) bool { return c.products[idx[i]].price >= target })
	i += r.IntN(5) - 2
	i = min(max(i, 0), len(idx)-1)
	return idx[i]
}

// randomCategory draws a category by browsing share.
func (c *catalog) randomCategory(r *rand.Rand) int { return pick(r, c.categoryCum) }

// ofMerchant returns a product sold by merchant, or any product.
func (c *catalog) ofMerchant(r *rand.Rand, merchant string) int {
	start := r.IntN(len(c.products))
	for k := range c.products {
		i := (start + k) % len(c.products)
		if c.products[i].merchant == merchant {
			return i
		}
	}
	return start
}
