// Command argo-validate checks Argo Workflows manifests with Argo's own
// parsing and validation code (the code behind `argo lint --offline --strict`).
//
// Usage: argo-validate FILE...
//
// Every YAML (or JSON) document in every file must be a Workflow,
// WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow. Documents are
// decoded strictly (unknown or duplicate fields are errors) and then passed to
// github.com/argoproj/argo-workflows/v4/workflow/validate with the options
// `argo lint` uses. WorkflowTemplates and ClusterWorkflowTemplates found in any
// of the given files are used to resolve workflowTemplateRef / templateRef, as
// `argo lint --offline` does.
//
// Output: "OK <file>" for each valid document, "<file>: <message>" for each
// problem. Exit status: 0 if everything is valid, 1 if anything is not,
// 2 on a usage error.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/util/logging"
	"github.com/argoproj/argo-workflows/v4/workflow/common"
	"github.com/argoproj/argo-workflows/v4/workflow/templateresolution"
	"github.com/argoproj/argo-workflows/v4/workflow/validate"
)

// In-memory template getters, keyed like `argo lint --offline` keys them:
// WorkflowTemplates by namespace then name, ClusterWorkflowTemplates by name.
type wftGetter struct {
	namespace string
	byName    map[string]*wfv1.WorkflowTemplate
}

func (g wftGetter) Get(_ context.Context, name string) (*wfv1.WorkflowTemplate, error) {
	if t, ok := g.byName[name]; ok {
		return t.DeepCopy(), nil
	}
	return nil, fmt.Errorf("couldn't find workflow template %q in namespace %q (pass the file that defines it on the same command line)", name, g.namespace)
}

type cwftGetter map[string]*wfv1.ClusterWorkflowTemplate

func (g cwftGetter) Get(_ context.Context, name string) (*wfv1.ClusterWorkflowTemplate, error) {
	if t, ok := g[name]; ok {
		return t.DeepCopy(), nil
	}
	return nil, fmt.Errorf("couldn't find cluster workflow template %q (pass the file that defines it on the same command line)", name)
}

type document struct {
	file string
	obj  metav1.Object
}

var argoKinds = map[string]bool{
	"Workflow":                true,
	"WorkflowTemplate":        true,
	"ClusterWorkflowTemplate": true,
	"CronWorkflow":            true,
}

// parseFile splits data into YAML documents and decodes each Argo document
// strictly. Document splitting and YAML->JSON conversion are done here so that
// no document is silently dropped; the typed, strict decoding itself is Argo's
// (common.ParseObjects on the JSON form, exactly what `argo lint --strict`
// runs per document).
func parseFile(ctx context.Context, data []byte) ([]metav1.Object, []error) {
	var objs []metav1.Object
	var errs []error
	reader := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", n, err))
			break
		}
		// Strict: duplicate keys are an error.
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", n, err))
			continue
		}
		if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
			continue // empty document (only comments / whitespace)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := json.Unmarshal(js, &head); err != nil {
			errs = append(errs, fmt.Errorf("document %d: not a YAML mapping: %w", n, err))
			continue
		}
		if !argoKinds[head.Kind] {
			errs = append(errs, fmt.Errorf("document %d: kind %q is not one of Workflow, WorkflowTemplate, ClusterWorkflowTemplate, CronWorkflow", n, head.Kind))
			continue
		}
		if head.APIVersion != "argoproj.io/v1alpha1" {
			errs = append(errs, fmt.Errorf("document %d (%s): apiVersion must be argoproj.io/v1alpha1, got %q", n, head.Kind, head.APIVersion))
			continue
		}
		res := common.ParseObjects(ctx, js, true)
		if len(res) != 1 || res[0].Object == nil {
			errs = append(errs, fmt.Errorf("document %d (%s): could not be decoded", n, head.Kind))
			continue
		}
		if res[0].Err != nil {
			errs = append(errs, res[0].Err)
			continue
		}
		objs = append(objs, res[0].Object)
	}
	return objs, errs
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

// usage: argo-validate [--submit] [-p NAME=VALUE]... FILE...
//
// Without --submit, files are validated as `argo lint` does.  With it, a
// Workflow is validated as `argo submit` and the controller do (no
// parameter may lack a value), after -p values are applied the way
// `argo submit -p` applies them.
func run(args []string, out io.Writer) int {
	submit := false
	params := map[string]string{}
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "--submit":
			submit = true
			args = args[1:]
		case args[0] == "-p" && len(args) > 1 && strings.Contains(args[1], "="):
			kv := strings.SplitN(args[1], "=", 2)
			params[kv[0]] = kv[1]
			args = args[2:]
		default:
			args = nil
		}
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: argo-validate [--submit] [-p NAME=VALUE]... FILE...")
		return 2
	}

	// Argo's code requires a logger in the context; its warnings are not errors.
	logger := logging.NewSlogLoggerCustom(logging.Error, logging.Text, io.Discard)
	ctx := logging.WithLogger(context.Background(), logger)

	failed := false
	fail := func(file, msg string) {
		failed = true
		fmt.Fprintf(out, "%s: %s\n", file, msg)
	}

	// Pass 1: parse every file, collecting templates for reference resolution.
	var docs []document
	wfts := map[string]map[string]*wfv1.WorkflowTemplate{} // namespace -> name -> template
	cwfts := cwftGetter{}
	for _, file := range args {
		data, err := os.ReadFile(file)
		if err != nil {
			fail(file, err.Error())
			continue
		}
		objs, errs := parseFile(ctx, data)
		for _, err := range errs {
			fail(file, err.Error())
		}
		if len(objs) == 0 && len(errs) == 0 {
			fail(file, "no Argo Workflows documents found")
		}
		for _, obj := range objs {
			switch v := obj.(type) {
			case *wfv1.WorkflowTemplate:
				if wfts[v.Namespace] == nil {
					wfts[v.Namespace] = map[string]*wfv1.WorkflowTemplate{}
				}
				if _, dup := wfts[v.Namespace][v.Name]; dup {
					fail(file, fmt.Sprintf("duplicate WorkflowTemplate found: %q", v.Name))
					continue
				}
				wfts[v.Namespace][v.Name] = v.DeepCopy()
			case *wfv1.ClusterWorkflowTemplate:
				if _, dup := cwfts[v.Name]; dup {
					fail(file, fmt.Sprintf("duplicate ClusterWorkflowTemplate found: %q", v.Name))
					continue
				}
				cwfts[v.Name] = v.DeepCopy()
			}
			docs = append(docs, document{file: file, obj: obj})
		}
	}

	getterFor := func(namespace string) templateresolution.WorkflowTemplateNamespacedGetter {
		return wftGetter{namespace: namespace, byName: wfts[namespace]}
	}

	// Pass 2: validate with the options `argo lint` uses, or those of a submit.
	opts := validate.ValidateOpts{Lint: !submit}
	for _, d := range docs {
		var err error
		switch v := d.obj.(type) {
		case *wfv1.Workflow:
			for i, p := range v.Spec.Arguments.Parameters {
				if value, ok := params[p.Name]; ok {
					v.Spec.Arguments.Parameters[i].Value = wfv1.AnyStringPtr(value)
					v.Spec.Arguments.Parameters[i].ValueFrom = nil
				}
			}
			err = validate.ValidateWorkflow(ctx, getterFor(v.Namespace), cwfts, v, nil, opts)
		case *wfv1.WorkflowTemplate:
			err = validate.ValidateWorkflowTemplate(ctx, getterFor(v.Namespace), cwfts, v, nil, opts)
		case *wfv1.ClusterWorkflowTemplate:
			err = validate.ValidateClusterWorkflowTemplate(ctx, getterFor(v.Namespace), cwfts, v, nil, opts)
		case *wfv1.CronWorkflow:
			err = validate.ValidateCronWorkflow(ctx, getterFor(v.Namespace), cwfts, v, nil)
		default:
			err = fmt.Errorf("unsupported object type %T", v)
		}
		if err != nil {
			fail(d.file, err.Error())
			continue
		}
		fmt.Fprintf(out, "OK %s\n", d.file)
	}

	if failed {
		return 1
	}
	return 0
}
