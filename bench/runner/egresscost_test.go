package main

import (
	"math"
	"testing"
)

func TestMedianCI(t *testing.T) {
	xs := make([]float64, 30)
	for i := range xs {
		xs[i] = float64(30 - i) // 30..1, unsorted
	}
	med, lo, hi := medianCI(xs)
	// Binomial(30, ½): P(B ≤ 9) ≈ 2.1%, P(B ≤ 10) ≈ 4.9%, so the interval
	// runs from the 10th smallest to the 10th largest value.
	if med != 15.5 || lo != 10 || hi != 21 {
		t.Fatalf("n=30: median %v, interval [%v, %v]; want 15.5, [10, 21]", med, lo, hi)
	}
	if _, lo, hi := medianCI([]float64{1, 2, 3, 4, 5, 6}); lo != 1 || hi != 6 {
		t.Fatalf("n=6: interval [%v, %v]; want the extremes (1/64 < 2.5%%)", lo, hi)
	}
	if med, lo, _ := medianCI([]float64{5, 1, 3, 2, 4}); med != 3 || !math.IsNaN(lo) {
		t.Fatalf("n=5: median %v, lo %v; want 3 and no interval (1/32 > 2.5%%)", med, lo)
	}
}
