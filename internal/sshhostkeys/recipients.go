package sshhostkeys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// Recipients parses the age recipients given on the command line (flags,
// "age1..."); when there are none it reads RecipientsFile in repo. It
// returns them with where they came from, for messages. No recipient at
// all is an error saying how to give one.
func Recipients(repo string, flags []string) ([]age.Recipient, string, error) {
	if len(flags) > 0 {
		var out []age.Recipient
		for _, f := range flags {
			rs, err := age.ParseRecipients(strings.NewReader(f))
			if err != nil {
				return nil, "", fmt.Errorf("--recipient %q: %w", f, err)
			}
			out = append(out, rs...)
		}
		return out, "--recipient", nil
	}
	p := filepath.Join(repo, filepath.FromSlash(RecipientsFile))
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("no --recipient and no %s in %s: give the server's recipient (gitboot secrets recipient --state DIR) with --recipient, or write it to %s", RecipientsFile, repo, RecipientsFile)
	}
	if err != nil {
		return nil, "", err
	}
	rs, err := age.ParseRecipients(strings.NewReader(string(data)))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", RecipientsFile, err)
	}
	return rs, RecipientsFile, nil
}
