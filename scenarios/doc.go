// Package scenarios will hold msbench's scenario schema, its strict YAML
// decoding and validation, and the built-in scenarios (issue #3).
package scenarios
