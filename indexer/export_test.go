package indexer

// WaitCaches applies pending cache writes, so tests can count the reads a
// cache saves without racing its asynchronous writes.
func (s *Service) WaitCaches() {
	s.claims.Wait()
	s.indexes.Wait()
}
