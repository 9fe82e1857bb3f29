// Package plugin will hold msnode's interceptor interfaces and their chain:
// auth, filter, transform and audit hooks that see batches (issue #7).
package plugin
