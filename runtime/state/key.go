package state

import (
	"strings"
	"unsafe"
)

// keyInline is the longest customer ID kept inside its customer's
// allocation.
const keyInline = 16

// keyedCustomer is a Customer with its ID's bytes next to it. The Store's
// map key of the customer points at key, so that the map's comparison of
// the ID reads memory that Apply reads next anyway: one cache miss per
// purchase instead of one for the key's own allocation and one for the
// customer (the map is too large for the cache; issue 3). It takes the
// memory the separate key did (208 bytes, the size class of a 192-byte
// Customer and a 16-byte key).
//
// Invariant (unsafe): key is written once, before the string pointing at
// it exists, and never again. Nothing assigns a keyedCustomer as a whole:
// the Store hands out and overwrites only &k.Customer (Apply's reset,
// Customer.UnmarshalBinary, the Restorer's replacement), which does not
// reach key. TestKeysStayTheirCustomers fails if an overwrite reaches it.
type keyedCustomer struct {
	key [keyInline]byte
	Customer
}

// newCustomer returns an empty Customer for the (valid, non-empty) ID id
// and the map key to keep it under: one allocation for both when the ID is
// short, else a Customer and a copy of id.
func newCustomer(id string) (*Customer, string) {
	if len(id) == 0 || len(id) > keyInline {
		// id may share its bytes with a whole decoded event: keep a copy.
		return new(Customer), strings.Clone(id)
	}
	k := new(keyedCustomer)
	copy(k.key[:], id)
	return &k.Customer, unsafe.String(&k.key[0], len(id))
}
