package hclspec

import "errors"

// secretUnbound is the `secret "PATH"` template function as validation
// parses templates with it: reconcile/artifact binds the real one (which
// decrypts an age-encrypted repository file) for each render.
func secretUnbound(string) (string, error) {
	return "", errors.New("secret: only available when the server renders the overlay")
}
