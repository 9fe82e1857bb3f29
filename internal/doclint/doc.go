// Package doclint checks that every package of the module has a package
// comment and every exported identifier a doc comment. The check is its
// test, run by make lint; the package has no API.
package doclint
