//! The Istio manifests under `envoy/istio/` are checked the way a cluster would check them, and the
//! filter configuration inside each is checked the way the filter would:
//!
//! - every document is validated against its CRD's `openAPIV3Schema`, taken from the Istio CRDs
//!   vendored in `tests/data/istio/` (found by `apiVersion` + `kind`; a missing folder or CRD
//!   fails, never skips; provenance and the refresh command are in that folder's README.md),
//!   read with Kubernetes' structural-schema rules: unknown fields are errors (the API server prunes
//!   them, and `kubectl apply` refuses them), `nullable` admits null, and the CEL rules
//!   (`x-kubernetes-validations`) that these CRDs use are modelled by hand (an unknown rule fails);
//! - the plugin configuration (WasmPlugin/TrafficExtension `pluginConfig`, the EnvoyFilter's
//!   `configuration.value`) must pass `Config::parse`, with only the environment variables the
//!   manifest actually hands the VM;
//! - a configuration that accepts the token from POST bodies (`transport.form`) needs Envoy's
//!   `allow_on_headers_stop_iteration`, which only the EnvoyFilter can set;
//! - the EnvoyFilter's filter entry, as written, is loaded by a real Envoy (`--mode validate`, which
//!   runs the filter's `on_configure`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A valid sealing key (base64 of 32 bytes), handed to every declared VM environment variable.
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

const TYPED_STRUCT: &str = "type.googleapis.com/xds.type.v3.TypedStruct";
const WASM_FILTER: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const STRING_VALUE: &str = "type.googleapis.com/google.protobuf.StringValue";

fn manifest_dir() -> PathBuf {
    kit::root().join("envoy/istio")
}

/// The Istio CRDs, vendored from istio/api (see `tests/data/istio/README.md`).
fn schema_dir() -> PathBuf {
    kit::root().join("tests/data/istio")
}

// ---------------------------------------------------------------------------------------------
// Reading YAML and CRDs

fn yaml_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| e.to_string())?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

#[derive(Debug)]
struct Crd {
    api_version: String,
    kind: String,
    /// `spec.versions[name = version].schema.openAPIV3Schema`, as published.
    open_api: Value,
}

/// Every served version of every CRD in `dir`. A missing folder, or one without a CRD, is an error:
/// the manifests would otherwise go unchecked.
fn load_crds(dir: &Path) -> Result<Vec<Crd>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read the CRD folder {}: {e}", dir.display()))?;
    let mut crds = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if !path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for doc in yaml_documents(&text).map_err(|e| format!("{}: {e}", path.display()))? {
            if doc["kind"] != "CustomResourceDefinition" {
                continue;
            }
            let spec = &doc["spec"];
            let (group, kind) = (spec["group"].as_str(), spec["names"]["kind"].as_str());
            let (Some(group), Some(kind)) = (group, kind) else {
                return Err(format!("{}: a CRD without spec.group or spec.names.kind", path.display()));
            };
            for version in spec["versions"].as_array().into_iter().flatten() {
                let name = version["name"].as_str().unwrap_or_default();
                let open_api = &version["schema"]["openAPIV3Schema"];
                if name.is_empty() || !open_api.is_object() {
                    return Err(format!(
                        "{}: {kind} version {name:?} has no openAPIV3Schema",
                        path.display()
                    ));
                }
                crds.push(Crd {
                    api_version: format!("{group}/{name}"),
                    kind: kind.to_string(),
                    open_api: open_api.clone(),
                });
            }
        }
    }
    if crds.is_empty() {
        return Err(format!("no CustomResourceDefinition in {}", dir.display()));
    }
    Ok(crds)
}

fn crds() -> Vec<Crd> {
    load_crds(&schema_dir())
        .unwrap_or_else(|e| panic!("{e} (the Istio CRDs are vendored in tests/data/istio/)"))
}

fn crd_for<'a>(crds: &'a [Crd], doc: &Value) -> Result<&'a Crd, String> {
    let (api_version, kind) =
        (doc["apiVersion"].as_str().unwrap_or_default(), doc["kind"].as_str().unwrap_or_default());
    crds.iter().find(|c| c.api_version == api_version && c.kind == kind).ok_or_else(|| {
        format!("no CRD for apiVersion {api_version:?} kind {kind:?} in {}", schema_dir().display())
    })
}

/// Every document of every manifest under envoy/istio/, with the file it came from.
fn manifests() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifest_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = yaml_documents(&text).unwrap_or_else(|e| panic!("{name}: not YAML: {e}"));
        assert!(!parsed.is_empty(), "{name}: no document");
        docs.extend(parsed.into_iter().map(|d| (name.clone(), d)));
    }
    docs
}

fn manifest_of_kind(kind: &str) -> Value {
    manifests()
        .into_iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} manifest"))
}

// ---------------------------------------------------------------------------------------------
// Kubernetes' reading of an openAPIV3Schema, in JSON Schema terms

/// Rewrites a structural schema so that plain JSON Schema means what Kubernetes means: an object
/// with `properties` and neither `additionalProperties` nor `x-kubernetes-preserve-unknown-fields`
/// admits no other field, and `nullable: true` admits null. `x-kubernetes-*` keywords stay (JSON
/// Schema ignores unknown keywords); CEL rules are checked by `check_kubernetes_rules`.
fn structural(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let value = match (key.as_str(), value) {
            // Maps from a field name to its schema: the names are data, the values are schemas.
            ("properties" | "patternProperties" | "definitions", Value::Object(fields)) => {
                Value::Object(fields.iter().map(|(k, v)| (k.clone(), structural(v))).collect())
            }
            // Plain data, never schemas.
            ("enum" | "required" | "default" | "example" | "x-kubernetes-validations", _) => value.clone(),
            (_, Value::Array(items)) => Value::Array(items.iter().map(structural).collect()),
            (_, Value::Object(_)) => structural(value),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    if out.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), json!([t, "null"]));
        }
    }
    let preserves_unknown = out.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if out.contains_key("properties") && !out.contains_key("additionalProperties") && !preserves_unknown {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}

/// The schema of a whole resource: the CRD's, plus the fields every Kubernetes object has.
fn resource_schema(crd: &Crd) -> Value {
    let mut schema = structural(&crd.open_api);
    let properties = schema["properties"].as_object_mut().expect("a CRD schema with properties");
    properties.insert("apiVersion".into(), json!({"type": "string"}));
    properties.insert("kind".into(), json!({"type": "string"}));
    properties.insert(
        "metadata".into(),
        json!({
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 253},
                "namespace": {"type": "string", "minLength": 1, "maxLength": 63},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        }),
    );
    schema
}

fn schema_errors(schema: &Value, doc: &Value) -> Vec<String> {
    let validator =
        jsonschema::draft4::new(schema).unwrap_or_else(|e| panic!("the CRD schema does not compile: {e}"));
    validator.iter_errors(doc).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

type Rule = fn(&Value) -> bool;

fn has(v: &Value, field: &str) -> bool {
    v.get(field).is_some()
}

/// The CEL rules of these CRDs, modelled by hand, keyed by their text without whitespace.
fn cel_rule(rule: &str) -> Option<Rule> {
    let compact: String = rule.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.starts_with("isURL(self)?") {
        // Only the URL schemes Istio fetches from: http, https, oci, file (or none).
        return Some(|v| {
            let url = v.as_str().unwrap_or_default();
            url.split_once("://").is_none_or(|(scheme, _)| {
                ["", "http", "https", "oci", "file"].contains(&scheme.to_ascii_lowercase().as_str())
            })
        });
    }
    let rule: Rule = match compact.as_str() {
        r#"!self.contains("*")"# => |v| !v.as_str().unwrap_or_default().contains('*'),
        r#"self.all(key,!key.contains("*"))"# => {
            |v| v.as_object().is_some_and(|m| m.keys().all(|k| !k.contains('*')))
        }
        "self.all(key,key.size()!=0)" => |v| v.as_object().is_some_and(|m| m.keys().all(|k| !k.is_empty())),
        "self.size()==0" => |v| v.as_str().is_some_and(str::is_empty),
        r#"(has(self.valueFrom)?self.valueFrom:"")!="HOST"||!has(self.value)"# => {
            |v| v["valueFrom"] != "HOST" || !has(v, "value")
        }
        "(has(self.selector)?1:0)+(has(self.targetRef)?1:0)+(has(self.targetRefs)?1:0)<=1" => {
            |v| ["selector", "targetRef", "targetRefs"].iter().filter(|f| has(v, f)).count() <= 1
        }
        "(has(self.selector)?1:0)+(has(self.targetRefs)?1:0)<=1" => {
            |v| ["selector", "targetRefs"].iter().filter(|f| has(v, f)).count() <= 1
        }
        "(has(self.workloadSelector)?1:0)+(has(self.targetRefs)?1:0)<=1" => {
            |v| ["workloadSelector", "targetRefs"].iter().filter(|f| has(v, f)).count() <= 1
        }
        "has(self.wasm)!=has(self.lua)" => |v| has(v, "wasm") != has(v, "lua"),
        r#"has(self.context)?((self.context=="WAYPOINT")?has(self.waypoint):!has(self.waypoint)):!has(self.waypoint)"# => {
            |v| has(v, "waypoint") == (v["context"] == "WAYPOINT")
        }
        "0<self&&self<=65535" => |v| v.as_u64().is_some_and(|n| (1..=65535).contains(&n)),
        _ => return None,
    };
    Some(rule)
}

/// What the API server checks beyond the OpenAPI schema, on the fields the document has: the CEL
/// rules (`x-kubernetes-validations`) and the uniqueness of list-map keys and set items.
fn check_kubernetes_rules(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    for rule in schema["x-kubernetes-validations"].as_array().into_iter().flatten() {
        let text = rule["rule"].as_str().unwrap_or_default();
        match cel_rule(text) {
            Some(holds) if holds(value) => {}
            Some(_) => errors.push(format!("{path}: {}", rule["message"].as_str().unwrap_or(text))),
            None => errors.push(format!("{path}: a CEL rule this test does not model: {text}")),
        }
    }
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                let field_schema = schema["properties"]
                    .get(name)
                    .or_else(|| schema.get("additionalProperties").filter(|s| s.is_object()));
                if let Some(field_schema) = field_schema {
                    check_kubernetes_rules(field_schema, field, &format!("{path}/{name}"), errors);
                }
            }
        }
        Value::Array(items) => {
            let keys: Vec<Value> = match schema["x-kubernetes-list-type"].as_str() {
                Some("map") => {
                    let names = schema["x-kubernetes-list-map-keys"].as_array().cloned().unwrap_or_default();
                    items
                        .iter()
                        .map(|item| {
                            Value::Array(
                                names.iter().map(|n| item[n.as_str().unwrap_or_default()].clone()).collect(),
                            )
                        })
                        .collect()
                }
                Some("set") => items.clone(),
                _ => Vec::new(),
            };
            let mut seen = HashSet::new();
            for key in keys {
                if !seen.insert(key.to_string()) {
                    errors.push(format!("{path}: duplicate list entry {key}"));
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_kubernetes_rules(item_schema, item, &format!("{path}/{i}"), errors);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// The filter configuration inside a manifest

/// One Wasm filter instance described by a manifest.
struct FilterInstance {
    /// Where in the document, for messages.
    at: String,
    /// The plugin configuration JSON, as the filter receives it.
    json: Vec<u8>,
    /// The VM environment variables the manifest delivers.
    env: Vec<String>,
    /// Whether Envoy lets the filter hold request headers while it reads the body.
    stop_iteration_allowed: bool,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
}

/// WasmPlugin `spec` or TrafficExtension `spec.wasm`: Istio hands `pluginConfig` to the filter as
/// JSON, and has no field for `allow_on_headers_stop_iteration`.
fn istio_wasm_instance(at: &str, wasm: &Value) -> Result<FilterInstance, String> {
    let config = wasm.get("pluginConfig").ok_or(format!("{at}: no pluginConfig"))?;
    let env = wasm["vmConfig"]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect();
    Ok(FilterInstance {
        at: format!("{at}.pluginConfig"),
        json: serde_json::to_vec(config).unwrap(),
        env,
        stop_iteration_allowed: false,
    })
}

/// An EnvoyFilter patch that adds `envoy.filters.http.wasm`: the Envoy `Wasm` message, direct or
/// in a TypedStruct.
fn envoy_wasm_instance(at: &str, filter: &Value) -> Result<FilterInstance, String> {
    let typed = &filter["typed_config"];
    let wasm = match typed["@type"].as_str() {
        Some(TYPED_STRUCT) if typed["type_url"] == WASM_FILTER => &typed["value"],
        Some(WASM_FILTER) => typed,
        other => return Err(format!("{at}: envoy.filters.http.wasm with typed_config {other:?}")),
    };
    let config = &wasm["config"];
    let configuration = &config["configuration"];
    if configuration["@type"] != STRING_VALUE {
        return Err(format!("{at}: configuration is not a {STRING_VALUE}"));
    }
    let json = configuration["value"].as_str().ok_or(format!("{at}: configuration.value is not a string"))?;
    let vars = &config["vm_config"]["environment_variables"];
    let mut env = strings(&vars["host_env_keys"]);
    env.extend(vars["key_values"].as_object().into_iter().flatten().map(|(k, _)| k.clone()));
    Ok(FilterInstance {
        at: format!("{at}.config.configuration.value"),
        json: json.as_bytes().to_vec(),
        env,
        stop_iteration_allowed: config["allow_on_headers_stop_iteration"] == true,
    })
}

fn filter_instances(doc: &Value) -> Result<Vec<FilterInstance>, String> {
    match doc["kind"].as_str() {
        Some("WasmPlugin") => Ok(vec![istio_wasm_instance("spec", &doc["spec"])?]),
        Some("TrafficExtension") => Ok(vec![istio_wasm_instance("spec.wasm", &doc["spec"]["wasm"])?]),
        Some("EnvoyFilter") => {
            let mut found = Vec::new();
            for (i, patch) in doc["spec"]["configPatches"].as_array().into_iter().flatten().enumerate() {
                let value = &patch["patch"]["value"];
                if patch["applyTo"] == "HTTP_FILTER" && value["name"] == "envoy.filters.http.wasm" {
                    found.push(envoy_wasm_instance(
                        &format!("spec.configPatches[{i}].patch.value.typed_config"),
                        value,
                    )?);
                }
            }
            if found.is_empty() {
                return Err("an EnvoyFilter without an envoy.filters.http.wasm patch".into());
            }
            Ok(found)
        }
        other => Err(format!("no cookieless filter is expected in a {other:?}")),
    }
}

/// The filter's own parser must accept the configuration, with exactly the environment the
/// manifest gives the VM; and form transport needs a filter that may pause on request headers.
fn check_filter(instance: &FilterInstance) -> Result<(), String> {
    let env = |name: &str| instance.env.iter().any(|n| n == name).then(|| KEY.to_string());
    let config = cookieless::config::Config::parse(&instance.json, &env)
        .map_err(|e| format!("{}: {e}", instance.at))?;
    if config.transport.form && !instance.stop_iteration_allowed {
        return Err(format!(
            "{}: transport.form is on, but this filter cannot hold a POST's headers while it reads \
             the body (no allow_on_headers_stop_iteration): every form POST would hang. Set \
             \"transport\": {{\"form\": false}}, or use the EnvoyFilter variant",
            instance.at
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The whole check of one document

fn check_document(crds: &[Crd], doc: &Value) -> Vec<String> {
    let crd = match crd_for(crds, doc) {
        Ok(crd) => crd,
        Err(e) => return vec![e],
    };
    let schema = resource_schema(crd);
    let mut errors = schema_errors(&schema, doc);
    check_kubernetes_rules(&schema, doc, "", &mut errors);
    match filter_instances(doc) {
        Ok(instances) => errors.extend(instances.iter().filter_map(|i| check_filter(i).err())),
        Err(e) => errors.push(e),
    }
    errors
}

fn assert_rejected(doc: &Value, expected: &str) {
    let errors = check_document(&crds(), doc);
    assert!(
        errors.iter().any(|e| e.contains(expected)),
        "expected an error mentioning {expected:?}, got {errors:#?}"
    );
}

fn raw_crd_accepts(doc: &Value) -> bool {
    let crds = crds();
    schema_errors(&crd_for(&crds, doc).unwrap().open_api, doc).is_empty()
}

// ---------------------------------------------------------------------------------------------
// The manifests as shipped

#[test]
fn every_manifest_is_valid_against_its_istio_crd_and_the_filter_accepts_its_config() {
    let crds = crds();
    let docs = manifests();
    let kinds: HashSet<&str> = docs.iter().filter_map(|(_, d)| d["kind"].as_str()).collect();
    for kind in ["WasmPlugin", "EnvoyFilter", "TrafficExtension"] {
        assert!(kinds.contains(kind), "no {kind} under envoy/istio/");
    }
    let mut failures = Vec::new();
    for (file, doc) in &docs {
        failures.extend(check_document(&crds, doc).into_iter().map(|e| format!("{file}: {e}")));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_crd_folder_must_exist() {
    let missing = schema_dir().join("no-such-folder");
    assert!(load_crds(&missing).is_err());
    let empty = kit::TempDir::new("no-crds");
    assert!(load_crds(empty.path()).unwrap_err().contains("no CustomResourceDefinition"));
}

#[test]
fn wasmplugin_and_trafficextension_keep_form_transport_off_and_envoyfilter_has_it_on() {
    for kind in ["WasmPlugin", "TrafficExtension", "EnvoyFilter"] {
        for instance in filter_instances(&manifest_of_kind(kind)).unwrap() {
            let env = |_: &str| Some(KEY.to_string());
            let config = cookieless::config::Config::parse(&instance.json, &env).unwrap();
            assert_eq!(config.transport.form, kind == "EnvoyFilter", "{kind}: transport.form");
            assert_eq!(config.rewrite.forms, kind == "EnvoyFilter", "{kind}: rewrite.forms");
            assert_eq!(instance.stop_iteration_allowed, kind == "EnvoyFilter", "{kind}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Broken manifests are caught

#[test]
fn an_unknown_enum_value_is_rejected_by_the_crd_itself() {
    let mut doc = manifest_of_kind("WasmPlugin");
    doc["spec"]["failStrategy"] = json!("FAIL_SAFE");
    assert!(!raw_crd_accepts(&doc));
    assert_rejected(&doc, "/spec/failStrategy");

    let mut doc = manifest_of_kind("EnvoyFilter");
    doc["spec"]["configPatches"][0]["patch"]["operation"] = json!("INSERT_SOMEWHERE");
    assert!(!raw_crd_accepts(&doc));
    assert_rejected(&doc, "/spec/configPatches/0/patch/operation");
}

#[test]
fn a_wrong_type_is_rejected_by_the_crd_itself() {
    let mut doc = manifest_of_kind("WasmPlugin");
    doc["spec"]["match"][0]["ports"][0]["number"] = json!("8080");
    assert!(!raw_crd_accepts(&doc));
    assert_rejected(&doc, "/spec/match/0/ports/0/number");
}

#[test]
fn an_unknown_field_is_rejected_as_kubernetes_does() {
    // The CRD declares no additionalProperties, so as plain JSON Schema it admits any field; the
    // API server does not (structural schemas), and neither does this test.
    let mut doc = manifest_of_kind("WasmPlugin");
    doc["spec"]["allowOnHeadersStopIteration"] = json!(true);
    assert!(raw_crd_accepts(&doc));
    assert_rejected(&doc, "allowOnHeadersStopIteration");

    let mut doc = manifest_of_kind("TrafficExtension");
    doc["spec"]["wasm"]["vmConfig"]["envs"] = json!([]);
    assert_rejected(&doc, "envs");
}

#[test]
fn the_crds_cel_rules_are_enforced() {
    let mut doc = manifest_of_kind("WasmPlugin");
    doc["spec"]["targetRefs"] = json!([{"kind": "Service", "name": "forms"}]);
    assert_rejected(&doc, "only one of targetRefs or selector can be set");

    let mut doc = manifest_of_kind("WasmPlugin");
    doc["spec"]["vmConfig"]["env"][0]["value"] = json!("inline secret");
    assert_rejected(&doc, "value may only be set when valueFrom is INLINE");

    let mut doc = manifest_of_kind("WasmPlugin");
    doc["spec"]["url"] = json!("ftp://registry.example.com/cookieless.wasm");
    assert_rejected(&doc, "url must have schema one of");

    let mut doc = manifest_of_kind("WasmPlugin");
    let env = doc["spec"]["vmConfig"]["env"][0].clone();
    doc["spec"]["vmConfig"]["env"].as_array_mut().unwrap().push(env);
    assert_rejected(&doc, "duplicate list entry");

    let mut doc = manifest_of_kind("TrafficExtension");
    doc["spec"]["lua"] = json!({"inlineCode": "function envoy_on_request(h) end"});
    assert_rejected(&doc, "exactly one of wasm or lua must be set");
}

#[test]
fn a_plugin_config_the_filter_refuses_is_rejected() {
    let mut doc = manifest_of_kind("WasmPlugin");
    doc["spec"]["pluginConfig"]["cookies"]["strip_requests"] = json!(true);
    assert_rejected(&doc, "strip_requests");

    let mut doc = manifest_of_kind("EnvoyFilter");
    let at = "/spec/configPatches/0/patch/value/typed_config/config/configuration/value";
    let json =
        doc.pointer(at).unwrap().as_str().unwrap().replace("\"ttl_seconds\": 86400", "\"ttl_seconds\": 0");
    *doc.pointer_mut(at).unwrap() = json!(json);
    assert_rejected(&doc, "token.ttl_seconds");
}

#[test]
fn a_key_from_a_variable_the_vm_does_not_get_is_rejected() {
    let mut doc = manifest_of_kind("WasmPlugin");
    doc["spec"]["pluginConfig"]["keys"][0]["secret_env"] = json!("COOKIELESS_OTHER_KEY");
    assert_rejected(&doc, "COOKIELESS_OTHER_KEY");

    let mut doc = manifest_of_kind("EnvoyFilter");
    doc["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["config"]["vm_config"]
        ["environment_variables"] = json!({});
    assert_rejected(&doc, "COOKIELESS_KEY");
}

#[test]
fn form_transport_without_stop_iteration_is_rejected() {
    let mut doc = manifest_of_kind("WasmPlugin");
    doc["spec"]["pluginConfig"]["transport"]["form"] = json!(true);
    assert_rejected(&doc, "every form POST would hang");

    let mut doc = manifest_of_kind("EnvoyFilter");
    let config = &mut doc["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["config"];
    config.as_object_mut().unwrap().remove("allow_on_headers_stop_iteration");
    assert_rejected(&doc, "every form POST would hang");
}

// ---------------------------------------------------------------------------------------------
// The EnvoyFilter's filter entry in a real Envoy

/// A bootstrap with one HTTP listener whose filter chain is `filter` then the router.
fn bootstrap_with(filter: &Value) -> Value {
    json!({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": kit::free_port()}}},
        "static_resources": {
            "listeners": [{
                "name": "inbound",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": kit::free_port()}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "inbound",
                        "route_config": {"virtual_hosts": [{
                            "name": "app", "domains": ["*"],
                            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "app"}}]
                        }]},
                        "http_filters": [
                            filter,
                            {"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
                        ]
                    }
                }]}]
            }],
            "clusters": [{
                "name": "app", "type": "STATIC", "connect_timeout": "1s",
                "load_assignment": {"cluster_name": "app", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9}}}}]}]}
            }]
        }
    })
}

/// Points every `local.filename` at the filter built by this tree; returns how many it changed.
fn use_built_module(value: &mut Value, wasm: &str) -> usize {
    match value {
        Value::Object(map) => {
            let mut n = 0;
            if let Some(Value::Object(local)) = map.get_mut("local") {
                if local.contains_key("filename") {
                    local.insert("filename".into(), json!(wasm));
                    n += 1;
                }
            }
            n + map.values_mut().map(|v| use_built_module(v, wasm)).sum::<usize>()
        }
        Value::Array(items) => items.iter_mut().map(|v| use_built_module(v, wasm)).sum(),
        _ => 0,
    }
}

fn envoy_validate(config: &Path, key: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(kit::envoy_bin());
    cmd.args(["--mode", "validate", "-c"]).arg(config).args([
        "--disable-hot-restart",
        "--log-level",
        "error",
    ]);
    cmd.env_remove("COOKIELESS_KEY");
    if let Some(key) = key {
        cmd.env("COOKIELESS_KEY", key);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn the_envoyfilter_wasm_entry_loads_in_envoy_with_the_key_from_the_proxy_environment() {
    let wasm = kit::wasm_path();
    let doc = manifest_of_kind("EnvoyFilter");
    let dir = kit::TempDir::new("istio-envoyfilter");
    for (i, patch) in doc["spec"]["configPatches"].as_array().unwrap().iter().enumerate() {
        if patch["applyTo"] != "HTTP_FILTER" {
            continue;
        }
        let mut filter = patch["patch"]["value"].clone();
        assert_eq!(
            use_built_module(&mut filter, &wasm.display().to_string()),
            1,
            "patch {i}: one local module expected"
        );
        let path = dir.path().join(format!("envoy-{i}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&bootstrap_with(&filter)).unwrap()).unwrap();

        let (ok, log) = envoy_validate(&path, Some(KEY));
        assert!(ok, "patch {i}: Envoy refused the EnvoyFilter's filter entry:\n{log}");
        // And the filter's on_configure did run on the manifest's configuration: without the
        // variable it names, Envoy refuses the filter.
        let (ok, log) = envoy_validate(&path, None);
        assert!(
            !ok && log.contains("COOKIELESS_KEY"),
            "patch {i}: expected a refusal naming COOKIELESS_KEY:\n{log}"
        );
    }
}
