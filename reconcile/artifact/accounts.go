package artifact

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gitboot/gitboot/hclspec"
)

// A node's declared accounts (hclspec.User, hclspec.Group) are merged into
// its image's /etc/passwd, /etc/group, /etc/shadow and /etc/gshadow (the
// image's own lines first, as they are; supplementary members added to
// the image's groups the users name) at build time:
//
//   - The system overlay carries all four, with every declared account
//     locked in /etc/shadow ("*": no password login; keys still work).
//     The system overlay travels over plain HTTP, so it never holds a
//     password hash.
//   - When a selected user has a password_hash, the runtime overlay (which
//     hclspec only allows on servers with secure_runtime) carries
//     /etc/shadow again, with the hashes; the agent applies it at init,
//     before the image's init runs.
//
// The files are made from the image's own (Layout.Accounts), so the
// image's layout is an input of both overlays: an image update that adds
// a system user is merged again. A declared name, uid or gid the image
// has already is an error at the user or group block.

// nodeAccounts are the declared accounts one node gets: its selected users
// and every declared group.
type nodeAccounts struct {
	users  []*hclspec.User
	groups []*hclspec.Group
	key    [32]byte // of everything above, the password hashes included
	hashes bool     // a user has a password_hash
}

// accountsOf returns the accounts of every node of c by node name (nodes
// with the same selection share one); none when c declares no user or
// group.
func accountsOf(c *hclspec.Cluster) map[string]*nodeAccounts {
	if len(c.Users) == 0 && len(c.Groups) == 0 {
		return nil
	}
	bySel := map[string]*nodeAccounts{}
	out := make(map[string]*nodeAccounts, len(c.Nodes))
	for _, n := range c.Nodes {
		sel := "\x00all"
		if n.Users != nil {
			sel = strings.Join(n.Users, "\x00")
		}
		a, ok := bySel[sel]
		if !ok {
			a = &nodeAccounts{users: c.NodeUsers(n), groups: c.Groups}
			a.key = a.hash()
			bySel[sel] = a
		}
		if len(a.users) > 0 || len(a.groups) > 0 {
			out[n.Name] = a
		}
	}
	return out
}

func (a *nodeAccounts) hash() [32]byte {
	var h keyHasher
	h.str("accounts/1")
	for _, u := range a.users {
		h.str("user")
		for _, s := range []string{u.Name, strconv.FormatUint(uint64(u.UID), 10), strconv.FormatUint(uint64(u.GID), 10),
			strconv.FormatBool(u.PrivateGroup), u.Home, u.Shell, u.Comment, u.PasswordHash, u.PasswordHashFile, u.PasswordFileSHA256} {
			h.str(s)
		}
		h.buf = binary.AppendUvarint(h.buf, uint64(len(u.Groups)))
		for _, g := range u.Groups {
			h.str(g)
		}
		a.hashes = a.hashes || u.PasswordHash != "" || u.PasswordHashFile != ""
	}
	for _, g := range a.groups {
		h.str("group")
		h.str(g.Name)
		h.str(strconv.FormatUint(uint64(g.GID), 10))
	}
	return h.sum()
}

// accountError is a declared account an image cannot take (a collision),
// placed at the user or group block.
func accountError(subject *hclspec.User, g *hclspec.Group, format string, args ...any) error {
	le := &locError{summary: "Account collides with the image", err: fmt.Errorf(format, args...)}
	if subject != nil {
		le.subject = subject.Range.Ptr()
	} else if g != nil {
		le.subject = g.Range.Ptr()
	}
	return le
}

// idOwner returns the name that has id in ids, "" when none.
func idOwner(ids map[string]uint32, id uint32) string {
	var out string
	for name, v := range ids {
		if v == id && (out == "" || name < out) {
			out = name
		}
	}
	return out
}

// checkAgainst reports the first declared account that collides with the
// image's (lay, nil: only what needs no image), and a supplementary or
// primary group that is nowhere.
func (a *nodeAccounts) checkAgainst(img *imageView) error {
	var users, groups map[string]uint32
	name := ""
	if img != nil && img.lay != nil {
		users, groups, name = img.lay.Users, img.lay.Groups, img.name
	}
	declared := map[string]uint32{}
	for _, g := range a.groups {
		declared[g.Name] = g.GID
		if id, ok := groups[g.Name]; ok {
			return accountError(nil, g, "group %s already exists in image %s (gid %d)", g.Name, name, id)
		}
		if other := idOwner(groups, g.GID); other != "" {
			return accountError(nil, g, "gid %d of group %s is group %s's in image %s", g.GID, g.Name, other, name)
		}
	}
	for _, u := range a.users {
		if id, ok := users[u.Name]; ok {
			return accountError(u, nil, "user %s already exists in image %s (uid %d)", u.Name, name, id)
		}
		if other := idOwner(users, u.UID); other != "" {
			return accountError(u, nil, "uid %d of user %s is user %s's in image %s", u.UID, u.Name, other, name)
		}
		if u.PrivateGroup && idOwner(groups, u.GID) == "" {
			if id, ok := groups[u.Name]; ok {
				return accountError(u, nil, "the private group %s of user %s (gid %d) already exists in image %s with gid %d", u.Name, u.Name, u.GID, name, id)
			}
			declared[u.Name] = u.GID
		}
	}
	for _, u := range a.users {
		if !slices.Contains(mapValues(declared), u.GID) && idOwner(groups, u.GID) == "" && groups != nil {
			return accountError(u, nil, "gid %d of user %s is no group of this node: declare a group with it, or use one of image %s", u.GID, u.Name, name)
		}
		for _, g := range u.Groups {
			if _, ok := declared[g]; ok {
				continue
			}
			if _, ok := groups[g]; !ok && groups != nil {
				return accountError(u, nil, "group %s of user %s is neither declared nor in /etc/group of image %s", g, u.Name, name)
			}
		}
	}
	return nil
}

func mapValues(m map[string]uint32) []uint32 {
	out := make([]uint32, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// accountsOrigin is the overlay name Render gives the account files.
const accountsOrigin = "gitboot-accounts"

// lockedPassword is the shadow password field of a declared user without
// password_hash: no password matches it, and unlike "!" sshd does not
// read it as a locked account, so key logins work.
const lockedPassword = "*"

// mergedAccounts returns the node's account files: the image's (img's
// layout; empty without one) with a's accounts merged in. password, when
// not nil, gives each user's password field of /etc/shadow (the runtime
// overlay's, see passwords); nil: every declared user is locked. Only
// files the image has are returned, and always passwd, group and shadow.
func (a *nodeAccounts) mergedAccounts(img *imageView, password func(*hclspec.User) (string, error)) (map[string]accountFile, error) {
	if err := a.checkAgainst(img); err != nil {
		return nil, err
	}
	files := map[string]accountFile{}
	if img != nil && img.lay != nil {
		for p, f := range img.lay.Accounts {
			files[p] = f
		}
	}
	for p, mode := range map[string]uint32{"etc/passwd": 0o644, "etc/group": 0o644, "etc/shadow": 0o600} {
		if _, ok := files[p]; !ok {
			files[p] = accountFile{Mode: mode} // an image without it: root's
		}
	}
	members := map[string][]string{} // group name -> declared users to add
	var passwd, shadow, group, gshadow strings.Builder
	imageGroups := map[string]uint32{}
	if img != nil && img.lay != nil {
		imageGroups = img.lay.Groups
	}
	for _, u := range a.users {
		fmt.Fprintf(&passwd, "%s:x:%d:%d:%s:%s:%s\n", u.Name, u.UID, u.GID, u.Comment, u.Home, u.Shell)
		pw := lockedPassword
		if password != nil {
			var err error
			if pw, err = password(u); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(&shadow, "%s:%s:::::::\n", u.Name, pw)
		for _, g := range u.Groups {
			members[g] = append(members[g], u.Name)
		}
	}
	for _, g := range a.groups {
		fmt.Fprintf(&group, "%s:x:%d:%s\n", g.Name, g.GID, strings.Join(members[g.Name], ","))
		fmt.Fprintf(&gshadow, "%s:!::%s\n", g.Name, strings.Join(members[g.Name], ","))
		delete(members, g.Name)
	}
	for _, u := range a.users {
		if u.PrivateGroup && idOwner(imageGroups, u.GID) == "" {
			fmt.Fprintf(&group, "%s:x:%d:\n", u.Name, u.GID)
			fmt.Fprintf(&gshadow, "%s:!::\n", u.Name)
		}
	}
	for p, add := range map[string]string{"etc/passwd": passwd.String(), "etc/shadow": shadow.String(), "etc/group": group.String(), "etc/gshadow": gshadow.String()} {
		f, ok := files[p]
		if !ok {
			continue // no gshadow in the image: none made
		}
		data := f.Data
		if p == "etc/group" || p == "etc/gshadow" {
			data = addMembers(data, 3, members) // the member list is the 4th field of both
		}
		if data != "" && !strings.HasSuffix(data, "\n") {
			data += "\n"
		}
		f.Data = data + add
		files[p] = f
	}
	return files, nil
}

// addMembers adds members[name] to the member list (field idx, counted
// from 0) of each line of data whose first field is name, skipping those
// listed already.
func addMembers(data string, idx int, members map[string][]string) string {
	if len(members) == 0 {
		return data
	}
	lines := strings.SplitAfter(data, "\n")
	for i, line := range lines {
		body := strings.TrimSuffix(line, "\n")
		f := strings.Split(body, ":")
		if len(f) <= idx || len(members[f[0]]) == 0 {
			continue
		}
		var list []string
		if f[idx] != "" {
			list = strings.Split(f[idx], ",")
		}
		for _, m := range members[f[0]] {
			if !slices.Contains(list, m) {
				list = append(list, m)
			}
		}
		f[idx] = strings.Join(list, ",")
		lines[i] = strings.Join(f, ":") + line[len(body):]
	}
	return strings.Join(lines, "")
}

// addAccounts puts the node's merged account files into t (an overlay's
// tree, before placeTree): all of them into a system overlay, /etc/shadow
// with the password hashes into a runtime overlay when a user has one. An
// overlay that ships one of these files itself is an error: the two would
// fight over it.
func addAccounts(t *tree, a *nodeAccounts, img *imageView, runtime bool, origin map[string]string, box *secretBox) error {
	if runtime && !a.hashes {
		return nil
	}
	var password func(*hclspec.User) (string, error)
	if runtime {
		password = func(u *hclspec.User) (string, error) { return passwordOf(u, box) }
	}
	files, err := a.mergedAccounts(img, password)
	if err != nil {
		return err
	}
	for _, p := range accountFiles {
		f, ok := files[p]
		if !ok || (runtime && p != "etc/shadow") {
			continue
		}
		if _, taken := t.lookup(p); taken {
			from := "an overlay"
			if o := origin[p]; o != "" {
				from = "overlay " + o
			}
			return fmt.Errorf("%s ships /%s, which gitboot makes from the image's and the declared users and groups: remove it from the overlay", from, p)
		}
		ino := &inode{mode: typeReg | f.Mode, uid: f.UID, gid: f.GID, declared: true,
			data: bytesContent([]byte(f.Data)), size: int64(len(f.Data))}
		if err := t.put(p, ino); err != nil {
			return fmt.Errorf("/%s: %w", p, err)
		}
		if origin != nil {
			origin[p] = accountsOrigin
		}
	}
	return nil
}

// withAccounts returns a copy of img (nil: no image) whose owner names
// resolve a's users and groups too (a user's private group included).
func (img *imageView) withAccounts(a *nodeAccounts) *imageView {
	v := &imageView{users: map[string]uint32{}, groups: map[string]uint32{}}
	if img != nil {
		v.name, v.lay, v.comp = img.name, img.lay, img.comp
	}
	for _, g := range a.groups {
		v.groups[g.Name] = g.GID
	}
	for _, u := range a.users {
		v.users[u.Name] = u.UID
		if u.PrivateGroup {
			if _, ok := v.groups[u.Name]; !ok {
				v.groups[u.Name] = u.GID
			}
		}
	}
	return v
}

// declaredIDs returns the declared users' (group: groups') ids by name;
// nil when none.
func (img *imageView) declaredIDs(group bool) map[string]uint32 {
	if img == nil {
		return nil
	}
	if group {
		return img.groups
	}
	return img.users
}

// namesOwners reports whether a file block of ovs names an owner or group
// by name (which may be a declared account).
func namesOwners(ovs []*overlay) bool {
	for _, ov := range ovs {
		for i := range ov.files {
			if a := ov.files[i].attr; a != nil {
				if _, num := hclspec.ParseID(a.owner); a.owner != "" && !num {
					return true
				}
				if _, num := hclspec.ParseID(a.group); a.group != "" && !num {
					return true
				}
			}
		}
	}
	return false
}

// accountDigests describes c's declared accounts as the plan shows an
// overlay's files (Inputs.Overlays["gitboot-accounts"]): "user alice" ->
// "uid 1001 gid 1001 groups hpc,sudo home /home/alice shell /bin/bash",
// "group hpc" -> "gid 2000". A password hash shows as "(sensitive)",
// never its value or a digest of it.
func accountDigests(c *hclspec.Cluster) map[string]string {
	out := make(map[string]string, len(c.Users)+len(c.Groups))
	for _, u := range c.Users {
		v := fmt.Sprintf("uid %d gid %d", u.UID, u.GID)
		if len(u.Groups) > 0 {
			v += " groups " + strings.Join(u.Groups, ",")
		}
		v += " home " + u.Home + " shell " + u.Shell
		if u.Comment != "" {
			v += " comment " + strconv.Quote(u.Comment)
		}
		switch {
		case u.PasswordHash != "":
			v += " password " + SensitiveValue
		case u.PasswordHashFile != "":
			v += " password_hash_file " + u.PasswordHashFile + " " + SensitiveValue + " age:" + u.PasswordFileSHA256[:min(16, len(u.PasswordFileSHA256))]
		}
		out["user "+u.Name] = v
	}
	for _, g := range c.Groups {
		out["group "+g.Name] = fmt.Sprintf("gid %d", g.GID)
	}
	return out
}

// passwordOf returns u's /etc/shadow password field for the runtime
// overlay: its password_hash, the decrypted content of its
// password_hash_file (one crypt(3) hash; surrounding white space
// dropped), or lockedPassword. Where box decrypts nothing (Check,
// Render) a file gives lockedPassword.
func passwordOf(u *hclspec.User, box *secretBox) (string, error) {
	switch {
	case u.PasswordHash != "":
		return u.PasswordHash, nil
	case u.PasswordHashFile == "":
		return lockedPassword, nil
	}
	b, err := box.readSecret(u.PasswordHashFile)
	if err != nil {
		return "", &locError{subject: u.Range.Ptr(), summary: "Cannot decrypt password_hash_file",
			err: fmt.Errorf("password_hash_file of user %s: %w", u.Name, err)}
	}
	if box.placeholder != nil {
		return lockedPassword, nil
	}
	h := strings.TrimSpace(string(b))
	if !hclspec.IsCryptHash(h) {
		// Never the content: it may be a password typed by mistake.
		return "", &locError{subject: u.Range.Ptr(), summary: "Invalid password_hash_file",
			err: fmt.Errorf("password_hash_file %s of user %s does not decrypt to one crypt(3) hash such as \"$y$...\" (mkpasswd -m yescrypt | age -r RECIPIENT -o %s)", u.PasswordHashFile, u.Name, u.PasswordHashFile)}
	}
	return h, nil
}

// checkPasswordFiles decrypts the password_hash_file of every user the
// nodes srv serves select (CheckDecrypt: a plan on the server's state
// refuses what its build would).
func checkPasswordFiles(c *hclspec.Cluster, srv *hclspec.Server, box *secretBox) error {
	done := map[string]bool{}
	for _, n := range servedNodes(c, srv) {
		for _, u := range c.NodeUsers(n) {
			if u.PasswordHashFile == "" || done[u.Name] {
				continue
			}
			done[u.Name] = true
			if _, err := passwordOf(u, box); err != nil {
				return &RepoError{err}
			}
		}
	}
	return nil
}
