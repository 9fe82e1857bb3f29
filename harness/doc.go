// Package harness will drive a target (an in-process msnode, msnode over
// TCP, a cluster, or a peer system) through a scenario, recording HDR
// latency histograms and pprof profiles (issue #3). It reaches a node only
// through core/client, or starts one in process through core/node's public
// API.
package harness
