package artifact

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/gitboot/gitboot/hclspec"
)

// The template data types are hclspec's, so validation checks field
// names against the same types the renderer fills.
type (
	// TemplateData is what an overlay template (*.tmpl) sees as dot.
	TemplateData = hclspec.TemplateData
	// TemplateNode is one node as templates see it.
	TemplateNode = hclspec.TemplateNode
	// TemplateNetwork is a network as templates see it.
	TemplateNetwork = hclspec.TemplateNetwork
	// TemplateCluster holds every node of the cluster, sorted by name.
	TemplateCluster = hclspec.TemplateCluster
	// TemplateServer is the gitboot server the node boots from.
	TemplateServer = hclspec.TemplateServer
	// TemplateInterface is one of a node's interface blocks.
	TemplateInterface = hclspec.TemplateInterface
	// TemplateBMC is a node's BMC as templates see it.
	TemplateBMC = hclspec.TemplateBMC
)

// Limits for rendering one template file.
const maxRenderOutput = 64 << 20

// renderTimeout bounds rendering one template file (a variable for tests).
var renderTimeout = 20 * time.Second

// rangeCheckFunc is appended to every {{range}} pipeline: ranging over an
// integer (text/template allows it since Go 1.24) could loop for hours, and
// a variable holding a number escapes any check of the parse tree. It is
// also where a render past its timeout stops: text/template cannot be
// cancelled, and a loop that writes nothing never reaches the writer's
// check, but every loop starts a range (nested ranges over the cluster's
// nodes, N^k iterations, start the inner range N^(k-1) times), so the
// check runs at least once per pass of an innermost loop. The account
// check after every function call (see accountFunc) stops it too.
const rangeCheckFunc = "gitbootRangeCheck"

// errRenderStopped ends a template whose render timed out.
var errRenderStopped = errors.New("stopped: over its time limit")

// rangeCheck is rangeCheckFunc: it fails once the render's stop flag is
// set. A nil value (a missing key of .Node.Resources) ranges as empty.
func rangeCheck(data *TemplateData, v reflect.Value) (reflect.Value, error) {
	if rc := renderOf(data); rc != nil && rc.stop.Load() {
		return reflect.Value{}, errRenderStopped
	}
	for v.IsValid() && v.Kind() == reflect.Interface {
		if v.IsNil() {
			return reflect.Value{}, nil
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return reflect.Value{}, errors.New("range over a number is not allowed in overlay templates (use until)")
	}
	return v, nil
}

// templateFuncs are the functions validation allows too (one map,
// hclspec.TemplateFuncs), plus the functions the parse tree rewrite calls
// (render binds per-render ones in their place).
var templateFuncs = func() template.FuncMap {
	m := hclspec.TemplateFuncs()
	m[rangeCheckFunc] = rangeCheck
	m[accountFunc] = account
	m[printFunc] = printValue
	return m
}()

// parseTemplate parses one overlay template (hclspec.ParseTemplate: field
// names checked, missing map keys empty) and works out what it reads.
// {{define}}, {{template}} and {{block}} are refused (they allow unbounded
// recursion), as is ranging over a number. The tree is rewritten so that a
// render can be stopped and bounded (see rewrite).
func parseTemplate(name, text string) (*template.Template, deps, error) {
	t, d, _, err := parseTemplateSel(name, text)
	return t, d, err
}

// parseTemplateSel is parseTemplate that also says which keys of the
// nodes' resources the template reads (see resSel).
func parseTemplateSel(name, text string) (*template.Template, deps, resSel, error) {
	t, reads, err := hclspec.ParseTemplate(name, text, templateFuncs)
	if err != nil {
		return nil, 0, "", err
	}
	rw := rewriter{tree: t.Tree}
	if t.Tree != nil && t.Tree.Root != nil {
		rw.list(t.Tree.Root)
	}
	if rw.err != nil {
		return nil, 0, "", rw.err
	}
	return t, depsOf(reads), resSelOf(reads), nil
}

// errOutputTooLarge stops a template whose output grows without bound.
var errOutputTooLarge = errors.New("output larger than 64 MiB")

type limitedBuffer struct {
	b    []byte
	stop *atomic.Bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.stop.Load() {
		return 0, errRenderStopped
	}
	if len(l.b)+len(p) > maxRenderOutput {
		return 0, errOutputTooLarge
	}
	l.b = append(l.b, p...)
	return len(p), nil
}

// render executes t. A template still running after renderTimeout is
// reported as an error, and stopped: at its next write, function call or
// start of a range (see rangeCheckFunc), whichever comes first. What its
// function calls produce is bounded too (see renderCtx). t is not cloned
// (a clone copies every function: most of a small render's time); the
// guards find the render's state through the data's address.
func render(t *template.Template, data *TemplateData) ([]byte, error) {
	// The render's own copy of the data: its address finds the render's
	// state (see renderOf), also for a goroutine still running after the
	// render timed out.
	d := *data
	rc := &renderCtx{left: maxRenderAlloc}
	renders.Store(&d, rc)
	out := &limitedBuffer{stop: &rc.stop}
	done := make(chan error, 1)
	go func() {
		err := t.Execute(out, &d)
		renders.Delete(&d)
		done <- err
	}()
	timer := time.NewTimer(renderTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			err = cleanRenderError(err)
			if !strings.HasPrefix(err.Error(), "template: ") {
				err = fmt.Errorf("template: %s: %w", t.Name(), err)
			}
			return nil, err
		}
		return out.b, nil
	case <-timer.C:
		rc.stop.Store(true)
		return nil, fmt.Errorf("template: %s: still running after %s (a loop?)", t.Name(), renderTimeout)
	}
}
