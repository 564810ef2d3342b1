//go:build !shmlinkcalls

package main

import "errors"

// Without -tags shmlinkcalls the program is built against a shmlink Go
// package that has no calls (shmlink.Dial, Client.Call) yet.
func openShmlink(string) (transport, error) {
	return nil, errors.New("-transport shmlink: this program was built without -tags shmlinkcalls " +
		"(the shmlink Go package it was built against has no Dial/Call)")
}
