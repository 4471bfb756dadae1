//go:build race

package mail_test

// raceFactor widens allocation bounds: the race detector allocates beside the code under test.
const raceFactor = 2
