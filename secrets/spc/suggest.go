package spc

import "strings"

// maxSuggestLen bounds the keys closest compares: longer keys are no typo of
// ours, and the distance costs len(a)*len(b).
const maxSuggestLen = 64

// closest returns the known key within edit distance 2 of k (case-insensitive), if any.
func closest(k string, known []string) string {
	best, bestD := "", 3
	for _, cand := range known {
		if d := editDistance(strings.ToLower(k), strings.ToLower(cand)); d < bestD {
			best, bestD = cand, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or 99 when either is
// longer than maxSuggestLen.
func editDistance(a, b string) int {
	if len(a) > maxSuggestLen || len(b) > maxSuggestLen {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
