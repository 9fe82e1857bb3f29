// Package ci will hold the performance gates' rules and baselines, the
// inputs of msbench gate (issue #4).
package ci
