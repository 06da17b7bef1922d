// Package report is what a node says about itself, and what the command
// line makes of it: the text of `.owners` and `.cluster-owners` and its
// parser, the JSON of `.stats`, the table `dsmfs stats` prints, the map
// `dsmfs owners --map` draws, and the Prometheus collector.
//
// It turns owner's views (runs of owned pages, Stats) into formats for
// people and scripts, in kernel pages, and reads them back. It never
// changes a node, and knows nothing of FUSE or the network.
package report
