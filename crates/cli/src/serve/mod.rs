//! `otalab serve`: the bench as a local Alibaba Cloud IoT OTA platform. One process that
//! answers the platform's OTA OpenAPI (signed V3 or V1, [`sign`]), runs the sandbox cloud with
//! the upgrade jobs engine on the real clock over an MQTT broker, and keeps every decision in
//! an SQLite database before acting on it ([`store`]), so that `kill -9` loses nothing.
//!
//! The driver is thin: HTTP in ([`api`]), broker messages in, timers in; each becomes an
//! [`Input`] that is applied to the [`Platform`], stored, and only then answered and
//! published.

mod broker;
mod platform;
pub mod sign;
mod store;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use otalab_mqtt::{Event, Options, QoS};
use otalab_sim::{Cloud, Outgoing, Qos};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

use crate::link::MqttLink;
use crate::run::{SetupError, nonce, setup};
use crate::transport::Endpoint;
use crate::{http, now_ms};
use platform::{ApiError, Platform, added, writes};
use sign::{AccessKey, GatewayError, Nonces, Request};
use store::{Input, SqliteStore, Store};

/// The largest firmware `CreateOTAFirmware` fetches (the platform's 1000 MB).
const MAX_FIRMWARE: u64 = 1000 * 1024 * 1024;
/// Firmware up to this size is kept for delivery over MQTT (the platform's 16 MB).
const MQTT_FIRMWARE: u64 = 16 * 1024 * 1024;
/// The largest API request body.
const MAX_BODY: usize = 1024 * 1024;

/// What `otalab serve` is told.
#[derive(clap::Args)]
pub struct ServeOptions {
    /// Where the database, uploaded files and the broker's state live (created if missing).
    #[arg(long, env = "OTALAB_DATA", default_value = ".otalab")]
    pub data: PathBuf,
    /// The address to listen on (127.0.0.1: this machine only).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// The OpenAPI's port (0: any free port; the address is printed).
    #[arg(long, env = "OTALAB_API_PORT", default_value_t = 8689)]
    pub port: u16,
    /// Use this broker (mqtt://, mqtts://, ws://, wss://) instead of starting mosquitto: the
    /// sandbox's front, a company broker.
    #[arg(long, env = "OTALAB_BROKER")]
    pub broker: Option<String>,
    /// Without --broker: the port of the mosquitto that otalab serve starts (on --host).
    #[arg(long, env = "OTALAB_MQTT_PORT", default_value_t = 1883)]
    pub mqtt_port: u16,
    /// Use this AccessKey (ID:SECRET) instead of the one generated on first start and stored
    /// in the data directory.
    #[arg(long, env = "OTALAB_ACCESS_KEY", hide_env_values = true)]
    pub access_key: Option<String>,
    /// The URL clients reach this server at (printed, and in upload URLs), when it is not the
    /// address it listens on (e.g. with --host 0.0.0.0).
    #[arg(long)]
    pub public_url: Option<String>,
}

struct Inner {
    platform: Platform,
    store: Box<dyn Store>,
}

struct Shared {
    inner: Mutex<Inner>,
    key: AccessKey,
    nonces: Mutex<Nonces>,
    outbox: mpsc::UnboundedSender<Vec<Outgoing>>,
    timers_changed: Notify,
    /// Job and task changes, as server-sent event (name, JSON) pairs.
    events: tokio::sync::broadcast::Sender<(&'static str, String)>,
    data: PathBuf,
    base_url: String,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        let n = nonce().to_le_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = n[i % 8] ^ (i as u8);
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// After an input was applied: a new firmware's bytes are loaded for MQTT delivery.
fn after_apply(platform: &mut Platform, data: &Path, input: &Input, ok: bool) {
    if let (true, Input::Call { action, .. }) = (ok, input)
        && action == "CreateOTAFirmware"
        && let Some(firmware) = platform.firmware().last()
    {
        let package = firmware.package.clone();
        if package.size <= MQTT_FIRMWARE
            && let Ok(bytes) = std::fs::read(firmware_file(data, &package.sha256))
        {
            let _ = platform.load_stream(&package, bytes);
        }
    }
}

fn firmware_file(data: &Path, sha256: &str) -> PathBuf {
    data.join("firmware").join(sha256)
}

impl Shared {
    /// Applies `inputs`, stores them with the task rows they changed, then publishes what
    /// they send; answers each input's result.
    fn commit(&self, inputs: Vec<(u64, Input)>) -> Vec<Result<platform::Fields, ApiError>> {
        let Ok(mut inner) = self.inner.lock() else {
            return Vec::new();
        };
        let mut results = Vec::with_capacity(inputs.len());
        let mut out = Vec::new();
        for (at, input) in &inputs {
            let (result, sent) = inner.platform.apply(*at, input);
            after_apply(&mut inner.platform, &self.data, input, result.is_ok());
            results.push(result);
            out.extend(sent);
        }
        let rows = inner.platform.changed_tasks();
        let jobs = inner.platform.changed_jobs();
        let progress: Vec<(otalab_sim::DeviceKey, (u64, String, i64), u64)> =
            if self.events.receiver_count() > 0 {
                inputs
                    .iter()
                    .filter_map(|(at, input)| match input {
                        Input::Message { topic, .. }
                            if topic.starts_with("/ota/device/progress/") =>
                        {
                            let key = message_device(topic)?;
                            let p = inner.platform.progress(&key)?;
                            Some((key, p, *at))
                        }
                        _ => None,
                    })
                    .collect()
            } else {
                Vec::new()
            };
        if let Err(e) = inner.store.append(&inputs, &rows) {
            // Nothing was acted on: the process ends, and a restart replays what was stored.
            eprintln!("otalab serve: {e}; stopping (nothing of this input was acted on)");
            std::process::exit(70);
        }
        drop(inner);
        if self.events.receiver_count() > 0 {
            for (job, status) in jobs {
                let _ = self.events.send((
                    "job",
                    json!({ "JobId": job, "JobStatus": status }).to_string(),
                ));
            }
            for (key, (task, job, step), at) in progress {
                let _ = self.events.send((
                    "progress",
                    json!({
                        "TaskId": task.to_string(), "JobId": job, "ProductKey": key.0,
                        "DeviceName": key.1, "Progress": step, "UtcModified": sign::format_utc(at),
                    })
                    .to_string(),
                ));
            }
            for row in rows {
                let at = row.changes.last().map_or(0, |c| c.0);
                let _ = self.events.send((
                    "task",
                    json!({
                        "TaskId": row.id.to_string(), "JobId": row.job,
                        "ProductKey": row.product_key, "DeviceName": row.device_name,
                        "TaskStatus": row.status, "TaskDesc": row.desc,
                        "UtcModified": sign::format_utc(at),
                    })
                    .to_string(),
                ));
            }
        }
        if !out.is_empty() {
            let _ = self.outbox.send(out);
        }
        self.timers_changed.notify_one();
        results
    }
}

/// Runs `otalab serve` until Ctrl-C.
pub async fn serve(opts: ServeOptions) -> Result<(), SetupError> {
    std::fs::create_dir_all(opts.data.join("firmware"))
        .and_then(|()| std::fs::create_dir_all(opts.data.join("uploads")))
        .map_err(|e| setup(format!("--data {}: {e}", opts.data.display())))?;
    // One otalab serve per data directory: a second one would write a second history.
    let lock_path = opts.data.join("otalab.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| setup(format!("{}: {e}", lock_path.display())))?;
    if lock.try_lock().is_err() {
        return Err(setup(format!(
            "--data {}: another otalab serve is using this directory; stop it or choose another --data",
            opts.data.display()
        )));
    }
    let db = opts.data.join("otalab.db");
    let mut store = SqliteStore::open(&db).map_err(|e| setup(e.to_string()))?;
    let meta = |store: &mut SqliteStore, key: &str, make: &dyn Fn() -> String| {
        match store.meta(key) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => {
                let v = make();
                store.set_meta(key, &v).map(|()| v)
            }
            Err(e) => Err(e),
        }
        .map_err(|e| setup(e.to_string()))
    };
    let key = match &opts.access_key {
        Some(pair) => {
            let (id, secret) = pair.split_once(':').ok_or_else(|| {
                setup("--access-key: ID:SECRET (the AccessKeyId, a colon, the secret)")
            })?;
            AccessKey {
                id: id.to_owned(),
                secret: secret.to_owned(),
            }
        }
        None => AccessKey {
            id: meta(&mut store, "access_key_id", &|| {
                format!("LTAIotalab{}", &random_hex(7))
            })?,
            secret: meta(&mut store, "access_key_secret", &|| random_hex(15))?,
        },
    };
    let first_id: u64 = meta(&mut store, "first_notice_id", &|| now_ms().to_string())?
        .parse()
        .unwrap_or(1);
    let client_id = meta(&mut store, "cloud_client_id", &|| {
        format!("otalab-serve-{}", random_hex(6))
    })?;

    // The platform as the stored inputs left it.
    let started = std::time::Instant::now();
    let inputs = store.load().map_err(|e| setup(e.to_string()))?;
    let mut platform = Platform::new(first_id);
    for (at, input) in &inputs {
        let (result, _) = platform.apply(*at, input);
        after_apply(&mut platform, &opts.data, input, result.is_ok());
    }
    platform.changed_tasks();
    platform.changed_jobs();
    let replayed = inputs.len();
    drop(inputs);

    // The broker: the one given, else a mosquitto of our own, kept in the data directory (it
    // outlives a crash of this process, and is used again by the next start).
    let (broker_url, mut own_broker) = match &opts.broker {
        Some(url) => (url.clone(), None),
        None => {
            let broker =
                broker::Broker::start(&opts.data.join("mosquitto"), opts.host, opts.mqtt_port)
                    .await
                    .map_err(setup)?;
            (broker.url.clone(), Some(broker))
        }
    };
    let endpoint = Endpoint::parse(&broker_url).map_err(|e| setup(format!("--broker: {e}")))?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(opts.host, opts.port))
        .await
        .map_err(|e| setup(format!("listening on {}:{}: {e}", opts.host, opts.port)))?;
    let bound = listener
        .local_addr()
        .map_err(|e| setup(format!("listening: {e}")))?;
    let base_url = opts
        .public_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("http://{bound}"));
    let (outbox, outgoing) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            platform,
            store: Box::new(store),
        }),
        key,
        nonces: Mutex::new(Nonces::default()),
        outbox,
        timers_changed: Notify::new(),
        events: tokio::sync::broadcast::channel(65_536).0,
        data: opts.data.clone(),
        base_url: base_url.clone(),
    });

    println!(
        "otalab serve: a local Alibaba Cloud IoT OTA platform\n\n  OpenAPI:     {base_url}/  (API version {}, signature V3 or V1)\n  AccessKey:   {}\n  Secret:      {}\n  Broker:      {}  (devices log in here; the platform's cloud is client {client_id})\n  Data:        {}  ({replayed} stored inputs replayed in {} ms)\n\nPress Ctrl-C to stop.",
        sign::API_VERSION,
        shared.key.id,
        shared.key.secret,
        broker_url,
        db.display(),
        started.elapsed().as_millis(),
    );

    let app = Router::new()
        .route("/", get(api).post(api))
        .route("/oss", post(upload))
        .route("/oss/{*key}", get(download))
        .route("/events", get(events))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_FIRMWARE as usize))
        .with_state(shared.clone());
    let cloud = tokio::spawn(cloud_link(shared.clone(), endpoint, client_id, outgoing));
    let timers = tokio::spawn(timers(shared.clone()));
    // Ctrl-C ends the server; open event streams do not hold it more than two seconds (every
    // decision is stored already, so nothing is lost by not waiting).
    let stopping = Arc::new(Notify::new());
    let signal = stopping.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = tokio::signal::ctrl_c().await;
        signal.notify_waiters();
    });
    let result = tokio::select! {
        result = server => result,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        } => Ok(()),
    };
    cloud.abort();
    timers.abort();
    if let Some(broker) = own_broker.take() {
        broker.stop();
    }
    drop(lock);
    result.map_err(|e| setup(format!("server: {e}")))
}

/// Fires the engine's timers as they fall due.
async fn timers(shared: Arc<Shared>) {
    loop {
        let due = shared
            .inner
            .lock()
            .ok()
            .and_then(|inner| inner.platform.poll_timeout());
        let now = now_ms();
        match due {
            Some(at) if at <= now => {
                shared.commit(vec![(now, Input::Tick)]);
            }
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(at - now)) => {}
                    () = shared.timers_changed.notified() => {}
                }
            }
            None => shared.timers_changed.notified().await,
        }
    }
}

/// The platform's MQTT client: a persistent session (the broker keeps what devices send while
/// `serve` is down), every OTA topic and the device status messages.
async fn cloud_link(
    shared: Arc<Shared>,
    endpoint: Endpoint,
    client_id: String,
    mut outgoing: mpsc::UnboundedReceiver<Vec<Outgoing>>,
) {
    let options = Options {
        clean_session: false,
        max_outbox: 1_000_000,
        seed: nonce(),
        ..Options::new(client_id)
    };
    let broker = format!("{}:{}", endpoint.host, endpoint.port);
    let (mut online, mut warned) = (false, false);
    let mut link = MqttLink::new(options, endpoint).read_chunk(64 * 1024);
    link.start();
    for filter in Cloud::subscriptions(None) {
        link.subscribe(&filter, QoS::AtLeastOnce);
    }
    link.subscribe("/as/mqtt/status/+/+", QoS::AtLeastOnce);
    loop {
        loop {
            let events = link.drive().await;
            if events.is_empty() {
                break;
            }
            for event in &events {
                match event {
                    Event::Connected { session_present } if !online => {
                        online = true;
                        eprintln!(
                            "otalab serve: the broker at {broker} took the platform's client (session kept: {session_present})"
                        );
                    }
                    Event::Disconnected(reason) if online || !warned => {
                        eprintln!(
                            "otalab serve: {} the broker at {broker}: {reason}; retrying (the API keeps answering)",
                            if online { "lost" } else { "cannot reach" }
                        );
                        online = false;
                        warned = true;
                    }
                    _ => {}
                }
            }
            let now = now_ms();
            let inputs: Vec<(u64, Input)> = {
                let Ok(inner) = shared.inner.lock() else {
                    return;
                };
                events
                    .into_iter()
                    .filter_map(|event| match event {
                        Event::Message(m) => Some(m),
                        _ => None,
                    })
                    .filter(|m| {
                        message_device(&m.topic).is_some_and(|key| {
                            inner.platform.is_registered(&key)
                                || m.topic.starts_with("/ota/device/inform/")
                        })
                    })
                    .map(|m| {
                        (
                            now,
                            Input::Message {
                                topic: m.topic,
                                payload: m.payload.to_vec(),
                            },
                        )
                    })
                    .collect()
            };
            if !inputs.is_empty() {
                shared.commit(inputs);
            }
        }
        let deadline = link.deadline();
        tokio::select! {
            Some(batch) = outgoing.recv() => {
                for message in batch {
                    let qos = match message.qos {
                        Qos::AtMostOnce => QoS::AtMostOnce,
                        Qos::AtLeastOnce => QoS::AtLeastOnce,
                    };
                    link.publish(&message.topic, &message.payload, qos);
                }
            }
            bytes = link.read() => link.received(bytes),
            () = async {
                match deadline {
                    Some(at) => tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms()))).await,
                    None => std::future::pending().await,
                }
            } => link.tick(now_ms()),
        }
    }
}

/// The device a broker message is about (an OTA topic or a status message).
fn message_device(topic: &str) -> Option<otalab_sim::DeviceKey> {
    if let Some(rest) = topic.strip_prefix("/as/mqtt/status/") {
        let (pk, dn) = rest.split_once('/')?;
        return Some(otalab_sim::DeviceKey::new(pk, dn));
    }
    let t = otalab_protocol::Topic::parse(topic).ok()?;
    Some(otalab_sim::DeviceKey::new(t.product_key, t.device_name))
}

fn request_id() -> String {
    let h = random_hex(16).to_ascii_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn answer(result: Result<platform::Fields, ApiError>) -> Response {
    let id = request_id();
    match result {
        Ok(fields) => {
            let mut body = serde_json::Map::new();
            body.insert("RequestId".into(), json!(id));
            body.insert("Success".into(), json!(true));
            body.extend(fields);
            json_response(StatusCode::OK, Value::Object(body))
        }
        Err(ApiError::Business { code, message }) => json_response(
            StatusCode::OK,
            json!({ "RequestId": id, "Success": false, "Code": code, "ErrorMessage": message }),
        ),
        Err(ApiError::Gateway(e)) => gateway_error(&id, &e),
    }
}

fn gateway_error(id: &str, e: &GatewayError) -> Response {
    json_response(
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
        json!({
            "RequestId": id,
            "HostId": "iot.cn-shanghai.aliyuncs.com",
            "Code": e.code(),
            "Message": e.to_string(),
            "Recommend": "see the otalab README, section otalab serve",
        }),
    )
}

fn pairs(text: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The OpenAPI: `GET` or `POST /` with the action in `x-acs-action` (V3) or `Action` (V1).
async fn api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_BODY {
        return gateway_error(
            &request_id(),
            &GatewayError::InvalidParameter(format!(
                "the body is {} bytes; at most {MAX_BODY}",
                body.len()
            )),
        );
    }
    let query = pairs(uri.query().unwrap_or_default().as_bytes());
    let header_list: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    let form_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form = if form_body { pairs(&body) } else { Vec::new() };
    let request = Request {
        method: method.as_str(),
        path: uri.path(),
        query: &query,
        headers: &header_list,
        form: &form,
        body: &body,
    };
    let now = now_ms();
    let checked = match shared.nonces.lock() {
        Ok(mut nonces) => sign::check(&request, &shared.key, &mut nonces, now),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let call = match checked {
        Ok(call) => call,
        Err(e) => return gateway_error(&request_id(), &e),
    };
    match writes(&call.action) {
        None => answer(Err(ApiError::Gateway(GatewayError::InvalidAction(
            call.action,
        )))),
        Some(false) => answer(read(&shared, &call.action, &call.params)),
        Some(true) => {
            let mut params = call.params;
            if let Err(e) = enrich(&shared, &call.action, &mut params).await {
                return answer(Err(e));
            }
            let input = Input::Call {
                action: call.action,
                params,
            };
            let mut results = shared.commit(vec![(now_ms(), input)]);
            answer(results.pop().unwrap_or_else(|| {
                Err(ApiError::Business {
                    code: "iot.common.InternalError",
                    message: "the platform stopped".into(),
                })
            }))
        }
    }
}

fn read(
    shared: &Shared,
    action: &str,
    params: &BTreeMap<String, String>,
) -> Result<platform::Fields, ApiError> {
    if action == "GenerateOTAUploadURL" {
        return Ok(upload_url(shared, params));
    }
    match shared.inner.lock() {
        Ok(inner) => inner.platform.read(action, params),
        Err(_) => Err(ApiError::Business {
            code: "iot.common.InternalError",
            message: "the platform stopped".into(),
        }),
    }
}

/// What the server adds before a call is stored: a device's secret, a firmware's digests
/// (fetched from its URL).
async fn enrich(
    shared: &Shared,
    action: &str,
    params: &mut BTreeMap<String, String>,
) -> Result<(), ApiError> {
    params.retain(|k, _| !k.starts_with('_'));
    match action {
        "RegisterDevice" => {
            params.insert(added::SECRET.into(), random_hex(16));
        }
        "CreateOTAFirmware" => {
            let Some(url) = params.get("FirmwareUrl").cloned() else {
                return Ok(());
            };
            let mut digests = otalab_protocol::FileDigests::new();
            let mut kept: Option<Vec<u8>> = Some(Vec::new());
            let fetched = http::for_each_chunk(&url, MAX_FIRMWARE, |chunk| {
                digests.update(chunk);
                if let Some(buf) = &mut kept {
                    if (buf.len() + chunk.len()) as u64 > MQTT_FIRMWARE {
                        kept = None;
                    } else {
                        buf.extend_from_slice(chunk);
                    }
                }
            })
            .await;
            if let Err(e) = fetched {
                return Err(ApiError::Business {
                    code: "iot.ota.FirmwareUrlUnreachable",
                    message: format!("FirmwareUrl: {e}"),
                });
            }
            let (size, md5, sha256) = digests.finish();
            if let Some(bytes) = kept {
                let path = firmware_file(&shared.data, &sha256);
                if !path.exists() {
                    let tmp = path.with_extension("part");
                    std::fs::write(&tmp, &bytes)
                        .and_then(|()| std::fs::rename(&tmp, &path))
                        .map_err(|e| ApiError::Business {
                            code: "iot.common.InternalError",
                            message: format!("keeping the firmware for MQTT delivery: {e}"),
                        })?;
                }
            }
            params.insert(added::SIZE.into(), size.to_string());
            params.insert(added::MD5.into(), md5);
            params.insert(added::SHA256.into(), sha256);
        }
        _ => {}
    }
    Ok(())
}

/// `GenerateOTAUploadURL`: where to POST the file (an OSS-style form upload to this server).
fn upload_url(shared: &Shared, params: &BTreeMap<String, String>) -> platform::Fields {
    use base64::Engine;
    let suffix = params
        .get("FileSuffix")
        .map(|s| {
            s.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(16)
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "bin".into());
    let key = format!("ota/{}.{suffix}", random_hex(12));
    let expires = sign::format_utc(now_ms() + 3_600_000);
    let policy = base64::engine::general_purpose::STANDARD
        .encode(json!({ "expiration": expires, "conditions": [["eq", "$key", key]] }).to_string());
    let signature = sign::v1_signature(
        "POST",
        &[("policy".into(), policy.clone())],
        &shared.key.secret,
    );
    let host = format!("{}/oss", shared.base_url);
    let mut fields = serde_json::Map::new();
    fields.insert(
        "Data".into(),
        json!({
            "Key": key,
            "Host": host,
            "FirmwareUrl": format!("{host}/{key}"),
            "Policy": policy,
            "Signature": signature,
            "OSSAccessKeyId": shared.key.id,
            "ObjectStorage": "OSS",
            "UtcCreate": sign::format_utc(now_ms()),
        }),
    );
    fields
}

fn oss_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{code}</Code>\n  <Message>{message}</Message>\n  <RequestId>{}</RequestId>\n  <HostId>otalab</HostId>\n</Error>\n",
        request_id()
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "application/xml"),
            (header::SERVER, "AliyunOSS"),
        ],
        body,
    )
        .into_response()
}

/// The OSS-style form upload: fields `key`, `policy`, `OSSAccessKeyId`, `Signature`, then
/// `file`, as `GenerateOTAUploadURL` described them.
async fn upload(State(shared): State<Arc<Shared>>, mut form: Multipart) -> Response {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                return oss_error(
                    StatusCode::BAD_REQUEST,
                    "MalformedPOSTRequest",
                    &e.to_string(),
                );
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let Some(key) = fields.get("key").cloned() else {
                return oss_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "the key field must come before the file",
                );
            };
            let policy = fields.get("policy").cloned().unwrap_or_default();
            let signature = fields
                .get("Signature")
                .or_else(|| fields.get("signature"))
                .cloned()
                .unwrap_or_default();
            let expected = sign::v1_signature(
                "POST",
                &[("policy".into(), policy.clone())],
                &shared.key.secret,
            );
            if signature != expected || fields.get("OSSAccessKeyId") != Some(&shared.key.id) {
                return oss_error(
                    StatusCode::FORBIDDEN,
                    "SignatureDoesNotMatch",
                    "the policy signature or the OSSAccessKeyId is wrong",
                );
            }
            if !valid_key(&key) {
                return oss_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidObjectName",
                    "the key is not one GenerateOTAUploadURL gave",
                );
            }
            let bytes = match field.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    return oss_error(StatusCode::BAD_REQUEST, "IncompleteBody", &e.to_string());
                }
            };
            let path = shared.data.join("uploads").join(&key);
            let stored = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(path.with_extension("part"), &bytes))
                .and_then(|()| std::fs::rename(path.with_extension("part"), &path));
            return match stored {
                Ok(()) => (StatusCode::NO_CONTENT, [(header::SERVER, "AliyunOSS")]).into_response(),
                Err(e) => oss_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    &e.to_string(),
                ),
            };
        }
        match field.text().await {
            Ok(text) => {
                fields.insert(name, text);
            }
            Err(e) => {
                return oss_error(
                    StatusCode::BAD_REQUEST,
                    "MalformedPOSTRequest",
                    &e.to_string(),
                );
            }
        }
    }
    oss_error(StatusCode::BAD_REQUEST, "InvalidArgument", "no file field")
}

/// An upload key as [`upload_url`] makes them: `ota/<hex>.<suffix>`.
fn valid_key(key: &str) -> bool {
    key.strip_prefix("ota/").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 64
            && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
            && !rest.starts_with('.')
            && rest.matches('.').count() == 1
    })
}

/// An uploaded file, with `Range` (devices resume downloads).
async fn download(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(key): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    if !valid_key(&key) {
        return oss_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    }
    let Ok(bytes) = tokio::fs::read(shared.data.join("uploads").join(&key)).await else {
        return oss_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    let total = bytes.len() as u64;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| {
            let (a, b) = v.split_once('-')?;
            let start: u64 = a.parse().ok()?;
            let end: u64 = if b.is_empty() {
                total.checked_sub(1)?
            } else {
                b.parse().ok()?
            };
            Some((start, end.min(total.saturating_sub(1))))
        });
    match range {
        Some((start, end)) if start < total && start <= end => (
            StatusCode::PARTIAL_CONTENT,
            [
                (
                    header::CONTENT_RANGE,
                    format!("bytes {start}-{end}/{total}"),
                ),
                (header::ACCEPT_RANGES, "bytes".to_owned()),
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            ],
            bytes[start as usize..=end as usize].to_vec(),
        )
            .into_response(),
        Some(_) => oss_error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The requested range cannot be satisfied.",
        ),
        None => (
            StatusCode::OK,
            [
                (header::ACCEPT_RANGES, "bytes"),
                (header::CONTENT_TYPE, "application/octet-stream"),
            ],
            bytes,
        )
            .into_response(),
    }
}

/// Job and task changes as server-sent events (`event: job`, `event: task`, JSON data in the
/// OpenAPI's field names), so a console follows a campaign without polling. Signed like a V1
/// call, `Action=SubscribeEvents`, in the query. A reader too slow for the stream gets
/// `event: lagged` with how many changes it missed (query the API again then).
async fn events(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    use axum::response::sse::{Event as Sse, KeepAlive};
    let query = pairs(uri.query().unwrap_or_default().as_bytes());
    let request = Request {
        method: "GET",
        path: uri.path(),
        query: &query,
        headers: &[],
        form: &[],
        body: b"",
    };
    let checked = match shared.nonces.lock() {
        Ok(mut nonces) => sign::check(&request, &shared.key, &mut nonces, now_ms()),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    match checked {
        Ok(call) if call.action == "SubscribeEvents" => {}
        Ok(call) => {
            return gateway_error(&request_id(), &GatewayError::InvalidAction(call.action));
        }
        Err(e) => return gateway_error(&request_id(), &e),
    }
    let receiver = shared.events.subscribe();
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let event = match receiver.recv().await {
            Ok((name, data)) => Sse::default().event(name).data(data),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                Sse::default().event("lagged").data(n.to_string())
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok::<_, std::convert::Infallible>(event), receiver))
    });
    axum::response::sse::Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
