package fraud

import "github.com/ecap-dev/ecap/runtime/state"

// StateLink returns the slot in which the customer of the State's latest
// transaction keeps its entry of the customer state (the engine passes it
// to state.Store.ApplyLinked), nil when that transaction had no customer,
// was only evaluated for a customer new to the State, or its customer has
// been removed since. With it a transaction finds its customer once for
// both states: the fraud state's map lookup is made anyway, and the
// customer state's only when the slot is empty or its entry was removed.
//
// Call it right after Holder.ProcessAt (or Evaluate, or Observe) returned
// for the transaction, before anything else uses the State: the slot is
// that transaction's customer's. It hands the slot out once.
func (s *State) StateLink() **state.Customer {
	c := s.linked
	if c == nil {
		return nil
	}
	s.linked = nil
	return &c.stateLink
}

// unlink forgets c as the latest transaction's customer when the State
// removes it: its slot is not handed out any more.
func (s *State) unlink(c *CustomerState) {
	if s.linked == c {
		s.linked = nil
	}
}
