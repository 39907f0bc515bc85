package reconcile

import (
	"strings"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/agesecret"
	"github.com/gitboot/gitboot/reconcile/artifact"
)

// An overlay file that is an age-encrypted secret has the inventory value
// "(sensitive) age:<digest of its ciphertext>[ mode ...]" (see
// artifact.Inputs): the digest lets a plan notice that the secret changed
// in git, and is never shown. A plan shows the file as (sensitive) and a
// changed one as changed, nothing else.

// secretChangedValue is a changed secret's new value in a plan.
const secretChangedValue = artifact.SensitiveValue + " changed"

// planFileValue is an overlay file's inventory value as a plan shows it:
// a secret's ciphertext digest left out.
func planFileValue(v string) string {
	rest, ok := strings.CutPrefix(v, artifact.SensitiveValue+" age:")
	if !ok {
		return v
	}
	if i := strings.IndexByte(rest, ' '); i >= 0 {
		return artifact.SensitiveValue + rest[i:]
	}
	return artifact.SensitiveValue
}

// secretFileChanges lists the secrets of an overlay whose ciphertext
// changed while everything a plan shows of them stayed the same.
func secretFileChanges(before, after map[string]string) []AttributeChange {
	var out []AttributeChange
	for _, f := range unionKeys(before, after) {
		b, inB := before[f]
		a, inA := after[f]
		if inA && inB && a != b && planFileValue(a) == planFileValue(b) && planFileValue(a) != a {
			out = append(out, AttributeChange{Name: "file " + f, Old: artifact.SensitiveValue, New: secretChangedValue})
		}
	}
	return out
}

// checkSecrets decrypts every secret the served nodes would get with the
// server's age identities (files, or else stateDir's; neither: nothing is
// checked), so a plan refuses what the build would: a *ConfigError naming
// the file that does not decrypt.
func checkSecrets(stateDir string, files []string, commit string, c *hclspec.Cluster, srv *hclspec.Server) error {
	keys, err := agesecret.Open(stateDir, files, false)
	if err != nil || keys == nil {
		return err
	}
	if err := artifact.CheckDecrypt(c, srv, keys); err != nil {
		return repoError(commit, c, err)
	}
	return nil
}
