package engine

// fraudChunkLen is the number of entries in one chunk of a fraudList:
// 20 KiB of fraudEntry, an allocation size class of its own.
const fraudChunkLen = 512

// fraudChunk is the storage of fraudChunkLen entries of a fraudList.
type fraudChunk = [fraudChunkLen]fraudEntry

// fraudList is a list of fraud entries kept in fixed-size chunks. The
// fraudBook appends to two of them at every change of the fraud state
// (creations mostly: an alert, a window): as one slice, each doubling
// copied the whole list (a growing list of millions of 40-byte entries
// where nothing checkpoints, and the same copies again every interval where
// a checkpoint takes the lists), while a chunked list never moves what it
// holds, and the chunks of a list a checkpoint is done with are reused by
// the lists filled next (fraudBook.recycle).
type fraudList struct {
	chunks []*fraudChunk
	n      int
}

// len returns the number of entries in l.
func (l *fraudList) len() int { return l.n }

// at returns entry i of l, 0 <= i < l.len().
func (l *fraudList) at(i int) fraudEntry {
	return l.chunks[i/fraudChunkLen][i%fraudChunkLen]
}

// add appends e to l, taking a new chunk from spare when the last one is
// full (or allocating one when there is no spare).
func (l *fraudList) add(e fraudEntry, spare *[]*fraudChunk) {
	i := l.n % fraudChunkLen
	if i == 0 && l.n/fraudChunkLen == len(l.chunks) {
		var c *fraudChunk
		if s := *spare; len(s) > 0 {
			c = s[len(s)-1]
			s[len(s)-1] = nil
			*spare = s[:len(s)-1]
		} else {
			c = new(fraudChunk)
		}
		l.chunks = append(l.chunks, c)
	}
	l.chunks[l.n/fraudChunkLen][i] = e
	l.n++
}

// each calls f with l's entries, in order.
func (l *fraudList) each(f func(fraudEntry)) {
	for k, c := range l.chunks {
		n := min(fraudChunkLen, l.n-k*fraudChunkLen)
		for _, e := range c[:n] {
			f(e)
		}
	}
}

// recycle puts the chunks of l, which nothing refers to any more, among the
// spare ones, cleared (so that they keep no ID alive), up to the number the
// lists of the last interval needed (spareMax); l is left empty.
func (b *fraudBook) recycle(l *fraudList) {
	for k, c := range l.chunks {
		if len(b.spare) < b.spareMax {
			n := min(fraudChunkLen, l.n-k*fraudChunkLen)
			clear(c[:n])
			b.spare = append(b.spare, c)
		}
		l.chunks[k] = nil
	}
	*l = fraudList{}
}
