package hclspec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// User is a `user "NAME" { uid = 1001, gid = 1001, groups = ["hpc"] }`
// block: an account merged into the /etc/passwd, /etc/group and
// /etc/shadow of every node that selects it (the node's `users`, default
// all), beside the image's own accounts.
type User struct {
	Name string
	UID  uint32
	// GID is the primary group: a declared group's gid, an image group's
	// (checked when artifacts are built), or, when no declared group has
	// it, the user's private group (PrivateGroup: a group named like the
	// user with this gid, as useradd makes). Default: UID.
	GID          uint32
	PrivateGroup bool
	// Groups are supplementary group names: declared groups or the
	// image's own (such as "sudo"); the user is added to their member
	// lists.
	Groups  []string `json:",omitempty"`
	Home    string   // default /home/NAME
	Shell   string   // default /bin/sh
	Comment string   `json:",omitempty"` // the GECOS field
	// PasswordHash is a crypt(3) hash ("$y$...", "$6$..."); empty (and
	// no PasswordHashFile): the account is locked ("*" in /etc/shadow). It is sensitive: never
	// printed, and delivered only in runtime overlays served in secure
	// mode.
	PasswordHash string `json:"-"`
	// PasswordHashFile is a repository file ending in .age holding the
	// hash, age-encrypted to the server (password_hash_file): decrypted
	// when the node's runtime overlay is built. PasswordFileSHA256 is
	// the sha256 (hex) of its ciphertext, so a new file is a change.
	PasswordHashFile   string    `json:",omitempty"`
	PasswordFileSHA256 string    `json:",omitempty"`
	Range              hcl.Range `json:"-"` // the block's header

	hashRange hcl.Range // the password_hash expression
}

// Group is a `group "NAME" { gid = 2000 }` block. Every declared group is
// in every node's /etc/group; its members are the node's selected users
// that list it.
type Group struct {
	Name  string
	GID   uint32
	Range hcl.Range `json:"-"`
}

// DefaultShell is a declared user's shell when the block names none
// (useradd's default).
const DefaultShell = "/bin/sh"

var userSchema = schema("uid", "gid", "groups", "home", "shell", "comment", "password_hash", "password_hash_file")

var groupSchema = schema("gid")

// accountNameRE is what useradd and groupadd accept by default (Debian's
// NAME_REGEX, without upper case): a lower-case letter or '_' first, then
// lower-case letters, digits, '_' and '-', an optional '$' last, at most
// 32 characters.
var accountNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}\$?$`)

// cryptRE is a crypt(3) hash as /etc/shadow holds it: "$id$...", no
// colon, no white space.
var cryptRE = regexp.MustCompile(`^\$[0-9a-z]+\$[^:\s]+$`)

// IsCryptHash reports whether s is a crypt(3) hash as /etc/shadow holds
// one ("$id$..."): what password_hash and a decrypted
// password_hash_file must be.
func IsCryptHash(s string) bool { return cryptRE.MatchString(s) }

func (l *loader) checkAccountName(kind string, b rawBlock) bool {
	if accountNameRE.MatchString(b.name) {
		return true
	}
	l.errorf(b.block.LabelRanges[0].Ptr(), "Invalid "+kind+" name",
		"%s name %q is not one useradd accepts: a lower-case letter or '_' first, then lower-case letters, digits, '_' or '-' (an optional '$' last), at most 32 characters.", kind, b.name)
	return false
}

// id evaluates a uid or gid: a whole number from 1 to 4294967294.
func (a *attrs) id(name string) (uint32, *hcl.Attribute, bool) {
	v, at, ok := a.value(name, cty.Number)
	if !ok {
		return 0, at, false
	}
	bf := v.AsBigFloat()
	i, _ := bf.Int64()
	if !bf.IsInt() || i < 1 || i >= math.MaxUint32 {
		a.valueErr(at, "Invalid "+name, "%s of %s must be a whole number from 1 to 4294967294 (0 is root), not %s.", name, a.what, bf.Text('f', -1))
		return 0, at, false
	}
	return uint32(i), at, true
}

func (l *loader) decodeUser(b rawBlock) {
	a := l.body(b, userSchema, false)
	if !l.checkAccountName("user", b) {
		return
	}
	u := &User{Name: b.name, Home: "/home/" + b.name, Shell: DefaultShell, Range: b.block.DefRange}
	if l.required(b, a, "uid") {
		u.UID, _, _ = a.id("uid")
	}
	u.GID = u.UID
	if v, _, ok := a.id("gid"); ok {
		u.GID = v
	}
	if v, at, ok := a.strList("groups"); ok {
		for i, g := range v {
			switch {
			case !accountNameRE.MatchString(g):
				a.valueErr(at, "Invalid group name", "groups of user %q: %q is not a group name.", b.name, g)
			case slices.Contains(v[:i], g):
				a.valueErr(at, "Duplicate group", "groups of user %q lists %q twice.", b.name, g)
			}
		}
		u.Groups = v
	}
	for _, x := range []struct {
		name string
		dst  *string
	}{{"home", &u.Home}, {"shell", &u.Shell}} {
		if v, at, ok := a.str(x.name); ok {
			if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, ":\n") {
				a.valueErr(at, "Invalid "+x.name, "%s of user %q must be an absolute path without ':', not %q.", x.name, b.name, v)
			}
			*x.dst = v
		}
	}
	if v, at, ok := a.str("comment"); ok {
		if strings.ContainsAny(v, ":\n") {
			a.valueErr(at, "Invalid comment", "comment of user %q must be one line without ':'.", b.name)
		}
		u.Comment = v
	}
	if v, at, ok := a.str("password_hash"); ok {
		if !cryptRE.MatchString(v) {
			// The value is sensitive: the diagnostic must not show it.
			l.errorf(at.Expr.Range().Ptr(), "Invalid password_hash",
				"password_hash of user %q must be a crypt(3) hash such as \"$y$...\" or \"$6$...\" (mkpasswd -m yescrypt); leave it out for a locked account.", b.name)
		}
		u.PasswordHash, u.hashRange = v, at.Expr.Range()
	}
	if v, at, ok := a.str("password_hash_file"); ok {
		switch p, err := repoPath(v); {
		case u.PasswordHash != "":
			a.valueErr(at, "Conflicting password arguments", "user %q sets both password_hash and password_hash_file; use one.", b.name)
		case err != nil:
			a.valueErr(at, "Invalid password_hash_file", "password_hash_file of user %q: %s.", b.name, err)
		case !strings.HasSuffix(p, ".age"):
			a.valueErr(at, "Invalid password_hash_file", "password_hash_file of user %q must name an age-encrypted file ending in .age (age -r RECIPIENT -o %s.age HASHFILE), not %q.", b.name, p, v)
		default:
			data, err := readLimited(l.fsys, p, MaxReadFile)
			if err != nil {
				a.valueErr(at, "Cannot read password_hash_file", "password_hash_file of user %q: %s.", b.name, err)
				break
			}
			u.PasswordHashFile, u.PasswordFileSHA256, u.hashRange = p, sha256Hex(string(data)), at.Expr.Range()
		}
	}
	l.users = append(l.users, u)
}

func (l *loader) decodeGroup(b rawBlock) {
	a := l.body(b, groupSchema, false)
	if !l.checkAccountName("group", b) {
		return
	}
	g := &Group{Name: b.name, Range: b.block.DefRange}
	if l.required(b, a, "gid") {
		g.GID, _, _ = a.id("gid")
	}
	l.groups = append(l.groups, g)
}

// checkAccounts checks the declared users and groups among themselves:
// duplicate names, uids and gids, a user's private group clashing with a
// declared group. Collisions with an image's own accounts are found when
// artifacts are built (the image is on the server).
func (l *loader) checkAccounts(c *Cluster) {
	groupByName := map[string]*Group{}
	groupByGID := map[uint32]string{}
	for _, g := range l.groups {
		if prev, dup := groupByName[g.Name]; dup {
			l.errorf(g.Range.Ptr(), "Duplicate group", "group %q is declared twice; the first is at %s.", g.Name, prev.Range.String())
			continue
		}
		groupByName[g.Name] = g
		if prev, dup := groupByGID[g.GID]; dup && g.GID != 0 {
			l.errorf(g.Range.Ptr(), "Duplicate gid", "groups %q and %q both have gid %d.", prev, g.Name, g.GID)
		}
		groupByGID[g.GID] = g.Name
	}
	userByName := map[string]*User{}
	userByUID := map[uint32]string{}
	for _, u := range l.users {
		if prev, dup := userByName[u.Name]; dup {
			l.errorf(u.Range.Ptr(), "Duplicate user", "user %q is declared twice; the first is at %s.", u.Name, prev.Range.String())
			continue
		}
		userByName[u.Name] = u
		if prev, dup := userByUID[u.UID]; dup && u.UID != 0 {
			l.errorf(u.Range.Ptr(), "Duplicate uid", "users %q and %q both have uid %d.", prev, u.Name, u.UID)
		}
		userByUID[u.UID] = u.Name
	}
	for _, u := range l.users {
		if userByName[u.Name] != u || u.GID == 0 {
			continue
		}
		if g, ok := groupByName[u.Name]; ok && g.GID != u.GID {
			l.errorf(u.Range.Ptr(), "Group name taken", "user %q has gid %d, but group %q (declared at %s) has gid %d: give the user gid = %d, or name its primary group by gid.",
				u.Name, u.GID, g.Name, g.Range.String(), g.GID, g.GID)
			continue
		}
		if _, ok := groupByGID[u.GID]; ok {
			continue // a declared group is the user's primary group
		}
		// Its private group: a group named like the user.
		u.PrivateGroup = true
		groupByGID[u.GID] = u.Name
	}
	reported := map[string]bool{} // a profile's list is reported once, not per node
	for _, n := range c.Nodes {
		for _, name := range n.Users {
			if _, ok := userByName[name]; ok {
				continue
			}
			r := n.Origin("users")
			if reported[r.String()+"\x00"+name] {
				continue
			}
			reported[r.String()+"\x00"+name] = true
			l.errorf(&r, "Unknown user", "users of node %q names %q, which no user block declares.%s", n.Name, name, suggest(name, userNames(l.users)))
		}
	}
	l.checkPasswordTransport(c)
}

func userNames(us []*User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Name
	}
	return out
}

// checkPasswordTransport requires every node that selects a user with a
// password_hash to be served only by servers with secure_runtime: the
// hash travels in the node's runtime overlay (/etc/shadow), which only
// secure mode keeps from neighbours.
func (l *loader) checkPasswordTransport(c *Cluster) {
	reported := map[string]bool{}
	for _, n := range c.Nodes {
		for _, u := range c.NodeUsers(n) {
			if (u.PasswordHash == "" && u.PasswordHashFile == "") || reported[u.Name] {
				continue
			}
			var why string
			if len(c.Servers) == 0 {
				why = "no server block declares secure_runtime = true"
			}
			for _, s := range c.Servers {
				if !s.SecureRuntime && (len(s.Networks) == 0 || slices.Contains(s.Networks, n.Network)) {
					why = fmt.Sprintf("server %q serves it without secure_runtime", s.Name)
					break
				}
			}
			if why != "" {
				reported[u.Name] = true
				l.errorf(u.hashRange.Ptr(), "Password hash without secure runtime",
					"user %q has a password hash and node %q selects it, but %s: the hash would be readable by any host on the network. Set secure_runtime = true on the server, or leave the password out (locked account).", u.Name, n.Name, why)
			}
		}
	}
}

// NodeUsers returns the declared users node n selects, sorted by name:
// those its `users` attribute names, or every declared user when it has
// none.
func (c *Cluster) NodeUsers(n *Node) []*User {
	if n.Users == nil {
		return c.Users
	}
	out := make([]*User, 0, len(n.Users))
	for _, u := range c.Users {
		if slices.Contains(n.Users, u.Name) {
			out = append(out, u)
		}
	}
	return out
}

// User returns the user block with the given name.
func (c *Cluster) User(name string) (*User, bool) { u, ok := c.users[name]; return u, ok }

// Group returns the group block with the given name.
func (c *Cluster) Group(name string) (*Group, bool) { g, ok := c.groups[name]; return g, ok }

// SetAccounts sets the cluster's declared users and groups (sorted and
// indexed; the slices given keep their order); for callers that build a
// Cluster with NewCluster.
func (c *Cluster) SetAccounts(users []*User, groups []*Group) {
	c.Users, c.Groups = slices.Clone(users), slices.Clone(groups)
	c.indexAccounts()
}

func (c *Cluster) indexAccounts() {
	sortByName(c.Users, func(u *User) string { return u.Name })
	sortByName(c.Groups, func(g *Group) string { return g.Name })
	c.users = indexByName(c.Users, func(u *User) string { return u.Name })
	c.groups = indexByName(c.Groups, func(g *Group) string { return g.Name })
}

// hashUser is a user as hashCluster hashes it: the password hash only as
// its sha256, so the model's hash changes with it.
type hashUser struct {
	*User
	PasswordSHA256 string `json:",omitempty"`
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func hashUsers(us []*User) []hashUser {
	if len(us) == 0 {
		return nil
	}
	out := make([]hashUser, len(us))
	for i, u := range us {
		out[i] = hashUser{User: u}
		if u.PasswordHash != "" {
			out[i].PasswordSHA256 = sha256Hex(u.PasswordHash)
		}
	}
	return out
}
