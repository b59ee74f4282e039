//! Fleet definitions: name templates and imports (devices.conf, CSV, JSON) and exports.

use otalab_protocol::parse_devices_conf;
use serde::{Deserialize, Serialize};

/// One device to simulate. `Debug` shows the secret as `<redacted>`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSpec {
    /// productKey.
    pub product_key: String,
    /// deviceName.
    pub device_name: String,
    /// deviceSecret (Alibaba Cloud profile only; never exported).
    #[serde(default, skip_serializing)]
    pub device_secret: String,
    /// Current firmware version.
    #[serde(default = "default_version")]
    pub version: String,
}

impl std::fmt::Debug for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSpec")
            .field("product_key", &self.product_key)
            .field("device_name", &self.device_name)
            .field("device_secret", &"<redacted>")
            .field("version", &self.version)
            .finish()
    }
}

fn default_version() -> String {
    "1.0.0".into()
}

/// A device as kept in localStorage: the secret only when the user asked to remember secrets.
/// `Debug` shows the secret as `<redacted>`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredDevice {
    /// productKey.
    pub product_key: String,
    /// deviceName.
    pub device_name: String,
    /// Version at creation.
    pub version: String,
    /// deviceSecret, if remembered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_secret: Option<String>,
}

impl std::fmt::Debug for StoredDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredDevice")
            .field("product_key", &self.product_key)
            .field("device_name", &self.device_name)
            .field("version", &self.version)
            .field(
                "device_secret",
                &self.device_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What to keep of a fleet.
pub fn to_stored(specs: &[DeviceSpec], remember_secrets: bool) -> Vec<StoredDevice> {
    specs
        .iter()
        .map(|s| StoredDevice {
            product_key: s.product_key.clone(),
            device_name: s.device_name.clone(),
            version: s.version.clone(),
            device_secret: (remember_secrets && !s.device_secret.is_empty())
                .then(|| s.device_secret.clone()),
        })
        .collect()
}

/// The fleet back from storage.
pub fn from_stored(stored: Vec<StoredDevice>) -> Vec<DeviceSpec> {
    stored
        .into_iter()
        .map(|s| DeviceSpec {
            product_key: s.product_key,
            device_name: s.device_name,
            device_secret: s.device_secret.unwrap_or_default(),
            version: s.version,
        })
        .collect()
}

/// Expands `meter-{0001..0250}` into `meter-0001` … `meter-0250` (zero-padded to the width of
/// the first number). A name without braces is one name. At most `limit` names.
pub fn expand_template(template: &str, limit: usize) -> Result<Vec<String>, String> {
    let Some(open) = template.find('{') else {
        return if template.is_empty() {
            Err("the name must not be empty".into())
        } else {
            Ok(vec![template.to_owned()])
        };
    };
    let close = template[open..]
        .find('}')
        .map(|i| open + i)
        .ok_or("missing '}' in the template")?;
    if template[close + 1..].contains('{') {
        return Err("only one {from..to} range per template".into());
    }
    let inner = &template[open + 1..close];
    let (from, to) = inner
        .split_once("..")
        .ok_or("write a range as {0001..0250}")?;
    let width = from.len();
    let from: u64 = from
        .parse()
        .map_err(|_| format!("{from:?} is not a number"))?;
    let to: u64 = to.parse().map_err(|_| format!("{to:?} is not a number"))?;
    if to < from {
        return Err(format!("the range {from}..{to} is empty"));
    }
    // Checked: `{0..18446744073709551615}` must be refused, not wrap to 0 or overflow.
    to.checked_sub(from)
        .and_then(|span| span.checked_add(1))
        .filter(|count| *count <= limit as u64)
        .ok_or_else(|| {
            let count = u128::from(to) - u128::from(from) + 1;
            format!("{count} names is over the limit of {limit}")
        })?;
    let (prefix, suffix) = (&template[..open], &template[close + 1..]);
    Ok((from..=to)
        .map(|n| format!("{prefix}{n:0width$}{suffix}"))
        .collect())
}

/// Reads devices from a bridge `devices.conf`, a CSV (`productKey,deviceName,deviceSecret,version`
/// with an optional header line) or a JSON array of `{productKey, deviceName, deviceSecret?, version?}`.
pub fn import(text: &str) -> Result<Vec<DeviceSpec>, String> {
    let devices = import_unchecked(text)?;
    for (i, spec) in devices.iter().enumerate() {
        check(spec).map_err(|e| format!("device {}: {e}", i + 1))?;
    }
    Ok(devices)
}

/// Longest deviceName Alibaba Cloud IoT accepts.
pub const MAX_NAME: usize = 32;

/// Checks a device with the protocol core's own rules: productKey and deviceName must be
/// legal topic segments (not empty, no `/`, `+`, `#` or control characters) and the version
/// a version the wire accepts; then Alibaba Cloud IoT's naming rules: a productKey of letters
/// and digits, a deviceName of at most 32 letters, digits and `-_@.:` (the platform's 4-character
/// minimum is not enforced, so that short sandbox names stay possible).
pub fn check(spec: &DeviceSpec) -> Result<(), String> {
    otalab_protocol::Topic::new(
        otalab_protocol::TopicKind::Inform,
        &spec.product_key,
        &spec.device_name,
    )
    .map_err(|e| e.to_string())?;
    if spec.product_key.len() > MAX_NAME
        || !spec.product_key.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(format!(
            "productKey {:?}: only letters and digits, at most {MAX_NAME}",
            short(&spec.product_key)
        ));
    }
    if spec.device_name.chars().count() > MAX_NAME {
        return Err(format!(
            "deviceName {:?} is {} characters long: at most {MAX_NAME}",
            short(&spec.device_name),
            spec.device_name.chars().count()
        ));
    }
    if let Some(c) = spec
        .device_name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_@.:".contains(*c)))
    {
        return Err(format!(
            "deviceName {:?}: {c:?} is not allowed (letters, digits and -_@.: only)",
            short(&spec.device_name)
        ));
    }
    otalab_protocol::Version::parse(&spec.version)
        .map_err(|e| format!("version {:?}: {e}", short(&spec.version)))?;
    Ok(())
}

/// The first 40 characters of a value, for messages.
fn short(text: &str) -> String {
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text.to_owned()
    }
}

fn import_unchecked(text: &str) -> Result<Vec<DeviceSpec>, String> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err("nothing to import: paste devices.conf lines, CSV or a JSON array".into());
    }
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        if trimmed.starts_with('{') {
            return Err(
                "JSON: expected an array of devices ([{\"productKey\": …}]), found an object"
                    .into(),
            );
        }
        return serde_json::from_str(trimmed).map_err(|e| format!("JSON: {e}"));
    }
    let first = trimmed.lines().next().unwrap_or_default();
    if first.contains(',') && !first.contains('{') {
        let mut devices = Vec::new();
        for (i, line) in trimmed.lines().enumerate() {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if line.trim().is_empty() || (i == 0 && fields[0].eq_ignore_ascii_case("productKey")) {
                continue;
            }
            if fields.len() < 2 || fields.len() > 4 || fields[0].is_empty() || fields[1].is_empty()
            {
                return Err(format!(
                    "CSV line {}: {} field(s), expected productKey,deviceName[,deviceSecret[,version]]",
                    i + 1,
                    fields.len()
                ));
            }
            devices.push(DeviceSpec {
                product_key: fields[0].into(),
                device_name: fields[1].into(),
                device_secret: fields.get(2).copied().unwrap_or_default().into(),
                version: fields
                    .get(3)
                    .filter(|v| !v.is_empty())
                    .map_or_else(default_version, |v| (*v).into()),
            });
        }
        return Ok(devices);
    }
    parse_devices_conf(text)
        .map(|entries| {
            entries
                .into_iter()
                .map(|e| DeviceSpec {
                    product_key: e.product_key,
                    device_name: e.device_name,
                    device_secret: e.device_secret,
                    version: default_version(),
                })
                .collect()
        })
        .map_err(|e| e.to_string())
}

/// The fleet as JSON, without secrets.
pub fn export(devices: &[DeviceSpec]) -> String {
    serde_json::to_string_pretty(devices).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_ranges_are_refused_without_overflow_or_hang() {
        let error = expand_template("x-{0..18446744073709551615}", 250).unwrap_err();
        assert_eq!(error, "18446744073709551616 names is over the limit of 250");
        assert!(expand_template("x-{1..18446744073709551615}", 250).is_err());
        assert!(expand_template("x-{0..99999999999999999999}", 250).is_err());
        assert_eq!(expand_template("x-{1..250}", 250).unwrap().len(), 250);
        assert_eq!(
            expand_template("x-{1..251}", 250).unwrap_err(),
            "251 names is over the limit of 250"
        );
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let spec = DeviceSpec {
            product_key: "pk".into(),
            device_name: "dn".into(),
            device_secret: "pl4nted-s3cret".into(),
            version: "1.0.0".into(),
        };
        let stored = to_stored(std::slice::from_ref(&spec), true);
        assert_eq!(stored[0].device_secret.as_deref(), Some("pl4nted-s3cret"));
        for text in [format!("{spec:?}"), format!("{stored:?}")] {
            assert!(!text.contains("pl4nted-s3cret"), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
    }

    #[test]
    fn devices_are_checked_with_the_protocol_rules() {
        let spec = |pk: &str, dn: &str, v: &str| DeviceSpec {
            product_key: pk.into(),
            device_name: dn.into(),
            device_secret: String::new(),
            version: v.into(),
        };
        assert!(check(&spec("pk", "meter-1", "1.0.0")).is_ok());
        for (bad, needle) in [
            (spec("", "x-1", "1.0.0"), "productKey"),
            (spec("pk", "a/b", "1.0.0"), "deviceName"),
            (spec("pk", "a+b", "1.0.0"), "deviceName"),
            (spec("pk", "a#", "1.0.0"), "deviceName"),
            (spec("pk", "d", ""), "version"),
            (spec("pk", "with space", "1.0.0"), "' ' is not allowed"),
            (spec("pk", &"n".repeat(300), "1.0.0"), "300 characters long"),
            (spec("p-k", "d", "1.0.0"), "only letters and digits"),
        ] {
            let error = check(&bad).unwrap_err();
            assert!(error.contains(needle), "{error}");
        }
        let error = import("{\"productKey\": \"pk\"}").unwrap_err();
        assert!(error.starts_with("JSON: expected an array"), "{error}");
        let error = import("[{\"productKey\": \"pk\"").unwrap_err();
        assert!(error.starts_with("JSON: "), "{error}");
        let error = import("pk,dn,s,1.0.0,extra").unwrap_err();
        assert!(error.starts_with("CSV line 1: 5 field(s)"), "{error}");
        assert!(import("  ").unwrap_err().starts_with("nothing to import"));
        let error = import("productKey,deviceName\npk,ok\npk,bad/name\n").unwrap_err();
        assert!(error.starts_with("device 2: "), "{error}");
        assert_eq!(
            expand_template("m-{1..2}{1..2}", 10).unwrap_err(),
            "only one {from..to} range per template"
        );
    }

    #[test]
    fn templates() {
        assert_eq!(
            expand_template("meter-{0001..0003}", 10).unwrap(),
            ["meter-0001", "meter-0002", "meter-0003"]
        );
        assert_eq!(
            expand_template("d{8..10}x", 10).unwrap(),
            ["d8x", "d9x", "d10x"]
        );
        assert_eq!(expand_template("single", 10).unwrap(), ["single"]);
        assert!(
            expand_template("m-{1..300}", 250)
                .unwrap_err()
                .contains("limit")
        );
        assert!(expand_template("m-{5..1}", 250).is_err());
        assert!(expand_template("m-{a..b}", 250).is_err());
    }

    #[test]
    fn secrets_are_stored_only_when_remembered() {
        let specs = vec![DeviceSpec {
            product_key: "pk".into(),
            device_name: "d".into(),
            device_secret: "s3cret".into(),
            version: "1.0".into(),
        }];
        let forgotten = serde_json::to_string(&to_stored(&specs, false)).unwrap();
        assert!(!forgotten.contains("s3cret"), "{forgotten}");
        let remembered = to_stored(&specs, true);
        assert!(
            serde_json::to_string(&remembered)
                .unwrap()
                .contains("s3cret")
        );
        assert_eq!(from_stored(remembered), specs);
    }

    #[test]
    fn imports_and_export_without_secrets() {
        let conf = "meter-1 {\n productKey: pk\n deviceName: d1\n deviceSecret: s1\n}";
        assert_eq!(import(conf).unwrap()[0].device_secret, "s1");
        let csv = "productKey,deviceName,deviceSecret,version\npk,d2,s2,1.2.3\npk,d3\n";
        let devices = import(csv).unwrap();
        assert_eq!(
            (devices[0].version.as_str(), devices[1].version.as_str()),
            ("1.2.3", "1.0.0")
        );
        let json = r#"[{"productKey":"pk","deviceName":"d4","deviceSecret":"s4"}]"#;
        let devices = import(json).unwrap();
        assert_eq!(devices[0].device_name, "d4");
        assert!(!export(&devices).contains("s4"));
        assert!(import("pk\n").is_err() || import("pk\n").unwrap().is_empty());
    }
}
