// Package offline admits ECAP objects read from files the way a cluster
// would: schema defaults, pruning of unknown fields (reported, as kubectl's
// strict field validation does), OpenAPI and CEL validation from the
// generated CRDs, then the kind's webhook validation. `ecap dev` and `ecap
// backtest` use it so that a sample that works locally is one the API
// server accepts.
package offline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/config/crd"
	"github.com/ecap-dev/ecap/controllers/fraudruleset"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/retentionpolicy"
	"github.com/ecap-dev/ecap/controllers/segmentation"
)

type kindSchema struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

var (
	loadOnce sync.Once
	schemas  map[string]*kindSchema
	loadErr  error
)

func load() {
	schemas = map[string]*kindSchema{}
	loadErr = fs.WalkDir(crd.Bases, "bases", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := crd.Bases.ReadFile(path)
		if err != nil {
			return err
		}
		var def apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(raw, &def); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, v := range def.Spec.Versions {
			if v.Name != v1alpha1.GroupVersion.Version || v.Schema == nil {
				continue
			}
			internal := &apiextensionsinternal.JSONSchemaProps{}
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			s, err := structuralschema.NewStructural(internal)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			validator, _, err := apiservervalidation.NewSchemaValidator(internal)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			schemas[def.Spec.Names.Kind] = &kindSchema{
				structural: s, validator: validator,
				cel: cel.NewValidator(s, true, celconfig.PerCallLimit),
			}
		}
		return nil
	})
}

// Object is an admitted object: one of the four ECAP kinds.
type Object = runtime.Object

// Admit defaults and validates one manifest and returns the typed object.
// Errors name the file's object and every offending field.
func Admit(ctx context.Context, manifest []byte) (Object, error) {
	loadOnce.Do(load)
	if loadErr != nil {
		return nil, fmt.Errorf("failed to load the embedded CRDs: %w", loadErr)
	}
	// Through JSON and the unstructured decoder, so that integers stay
	// int64 as the API server sees them.
	js, err := yaml.YAMLToJSON(manifest)
	if err != nil {
		return nil, fmt.Errorf("malformed manifest: %w", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, fmt.Errorf("malformed manifest: %w", err)
	}
	gvk := u.GroupVersionKind()
	if gvk.GroupVersion() != v1alpha1.GroupVersion {
		return nil, fmt.Errorf("apiVersion %q: want %s", u.GetAPIVersion(), v1alpha1.GroupVersion)
	}
	ks, ok := schemas[gvk.Kind]
	if !ok {
		return nil, fmt.Errorf("kind %q is not an ECAP kind", gvk.Kind)
	}
	name := gvk.Kind + " " + u.GetName()
	if u.GetName() == "" {
		return nil, fmt.Errorf("%s: metadata.name is required", gvk.Kind)
	}

	var errs field.ErrorList
	if unknown := pruning.PruneWithOptions(u.Object, ks.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}); len(unknown) > 0 {
		for _, p := range unknown {
			errs = append(errs, field.Forbidden(field.NewPath(p), "unknown field"))
		}
	}
	structuraldefaulting.Default(u.Object, ks.structural)
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, u.Object, ks.validator)...)
	celErrs, _ := ks.cel.Validate(ctx, nil, ks.structural, u.Object, nil, celconfig.RuntimeCELCostBudget)
	errs = append(errs, celErrs...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s is invalid: %w", name, errs.ToAggregate())
	}

	obj, webhookErrs, err := typed(u)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(webhookErrs) > 0 {
		return nil, fmt.Errorf("%s is invalid: %w", name, webhookErrs.ToAggregate())
	}
	return obj, nil
}

// typed converts to the Go type and runs the kind's webhook validation.
func typed(u *unstructured.Unstructured) (Object, field.ErrorList, error) {
	conv := runtime.DefaultUnstructuredConverter
	switch u.GetKind() {
	case "Pipeline":
		p := &v1alpha1.Pipeline{}
		if err := conv.FromUnstructured(u.Object, p); err != nil {
			return nil, nil, err
		}
		return p, pipeline.ValidateSpec(&p.Spec), nil
	case "FraudRuleSet":
		f := &v1alpha1.FraudRuleSet{}
		if err := conv.FromUnstructured(u.Object, f); err != nil {
			return nil, nil, err
		}
		return f, fraudruleset.Validate(f), nil
	case "Segmentation":
		s := &v1alpha1.Segmentation{}
		if err := conv.FromUnstructured(u.Object, s); err != nil {
			return nil, nil, err
		}
		return s, segmentation.Validate(s), nil
	case "RetentionPolicy":
		r := &v1alpha1.RetentionPolicy{}
		if err := conv.FromUnstructured(u.Object, r); err != nil {
			return nil, nil, err
		}
		return r, retentionpolicy.Validate(r), nil
	}
	return nil, nil, fmt.Errorf("unsupported kind %q", u.GetKind())
}

// AdmitAll admits every document of a multi-document YAML stream; empty
// documents are skipped.
func AdmitAll(ctx context.Context, r io.Reader) ([]Object, error) {
	reader := utilyaml.NewYAMLReader(bufioReader(r))
	var out []Object
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if len(strings.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, err := Admit(ctx, doc)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
}

func stripComments(doc []byte) string {
	var b strings.Builder
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
