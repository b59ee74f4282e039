#![cfg(feature = "jobs")]
//! Upgrade jobs on the virtual clock: each policy's effect on what devices see, with simulated
//! devices in the in-memory world (minutes and hours pass in milliseconds), and the protocol
//! details (a pull, a device coming back, step 0) against the cloud alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use otalab_protocol::{Failure, SignMethod};
use otalab_sim::jobs::MINUTE_MS;
use otalab_sim::memory::{FIRMWARE_BASE, MemoryOptions, World, demo_firmware};
use otalab_sim::{
    CancelTasks, Cloud, DeviceConfig, DeviceKey, DynamicMode, Fault, JobSpec, JobStatus, JobTarget,
    OverwriteMode, Package, Retry, TaskStatus,
};

fn configs(n: usize) -> Vec<DeviceConfig> {
    (0..n)
        .map(|i| {
            let mut c = DeviceConfig::new("pk", &format!("d{i:03}"), "1.0.0");
            c.flash_ms = 100;
            c.reboot_ms = 100;
            c
        })
        .collect()
}

fn package() -> (Package, Vec<u8>) {
    let bytes = demo_firmware(40_000, 3);
    let package = Package::describe(&format!("{FIRMWARE_BASE}fw.bin"), "2.0.0", &bytes);
    (package, bytes)
}

/// A world of these devices, connected and on 1.0.0.
fn world_with(configs: Vec<DeviceConfig>, options: MemoryOptions) -> (World, Package) {
    let (package, bytes) = package();
    let files = BTreeMap::from([(package.url.clone(), Arc::from(bytes))]);
    let mut world = World::new(configs, files, options);
    let start = world.now();
    world.advance_to(start + 2_000);
    (world, package)
}

fn world(configs: Vec<DeviceConfig>) -> (World, Package) {
    world_with(configs, MemoryOptions::default())
}

fn keys(world: &World) -> Vec<DeviceKey> {
    world
        .devices()
        .iter()
        .map(|d| DeviceKey::new(&d.config().product_key, &d.config().device_name))
        .collect()
}

fn create(world: &mut World, spec: JobSpec, package: &Package) -> u32 {
    let fleet = keys(world);
    let now = world.now();
    let (id, out) = world
        .cloud_mut()
        .create_job(spec, package, SignMethod::Md5, &fleet, now)
        .unwrap();
    world.publish(out);
    id
}

fn statuses(cloud: &Cloud, job: u32) -> BTreeMap<TaskStatus, usize> {
    cloud
        .job_view(job)
        .unwrap()
        .counts
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// When each task of the job was first notified.
fn notified_at(cloud: &Cloud, job: u32) -> Vec<u64> {
    cloud
        .list_tasks(job, 1, 100)
        .unwrap()
        .iter()
        .filter_map(|t| {
            t.timeline
                .iter()
                .find(|c| c.status == TaskStatus::Notified)
                .map(|c| c.at_ms)
        })
        .collect()
}

fn advance(world: &mut World, ms: u64) {
    let until = world.now() + ms;
    world.advance_to(until);
}

#[test]
fn the_rate_spreads_notices_over_minutes() {
    let (mut world, package) = world(configs(25));
    let mut spec = JobSpec::new(JobTarget::All);
    spec.maximum_per_minute = 10;
    let t0 = world.now();
    let job = create(&mut world, spec, &package);
    assert_eq!(statuses(world.cloud(), job)[&TaskStatus::Queued], 15);
    advance(&mut world, 5 * MINUTE_MS);
    let mut minutes: BTreeMap<u64, usize> = BTreeMap::new();
    for at in notified_at(world.cloud(), job) {
        *minutes.entry((at - t0) / MINUTE_MS).or_default() += 1;
    }
    assert_eq!(minutes, BTreeMap::from([(0, 10), (1, 10), (2, 5)]));
    assert_eq!(
        statuses(world.cloud(), job),
        BTreeMap::from([(TaskStatus::Succeeded, 25)])
    );
    assert_eq!(
        world.cloud().job_view(job).unwrap().status,
        JobStatus::Completed
    );
}

#[test]
fn confirmation_holds_every_notice_until_confirmed() {
    let (mut world, package) = world(configs(12));
    let mut spec = JobSpec::new(JobTarget::All);
    spec.need_confirm = true;
    let job = create(&mut world, spec, &package);
    advance(&mut world, 30 * MINUTE_MS);
    assert_eq!(
        statuses(world.cloud(), job),
        BTreeMap::from([(TaskStatus::Confirm, 12)])
    );
    assert!(
        world.devices().iter().all(|d| d.notice().is_none()),
        "nothing sent"
    );
    let ids: Vec<u64> = world.cloud().upgrade_jobs()[0].tasks.clone();
    let now = world.now();
    let err = world.cloud_mut().confirm_tasks(&ids, now).unwrap_err();
    assert_eq!(err.code(), "JOB_TASK_ID_COUNT");
    let out = world.cloud_mut().confirm_tasks(&ids[..10], now).unwrap();
    assert_eq!(out.len(), 10);
    world.publish(out);
    advance(&mut world, MINUTE_MS);
    assert_eq!(
        statuses(world.cloud(), job),
        BTreeMap::from([(TaskStatus::Confirm, 2), (TaskStatus::Succeeded, 10)])
    );
    let err = world.cloud_mut().confirm_tasks(&ids[..1], now).unwrap_err();
    assert_eq!(err.code(), "JOB_WRONG_TASK_STATUS");
    assert!(err.to_string().contains("SUCCEEDED"), "{err}");
}

#[test]
fn a_grey_release_then_the_full_release() {
    let (mut world, package) = world(configs(25));
    let grey = create(
        &mut world,
        JobSpec::new(JobTarget::Gray("10".into())),
        &package,
    );
    advance(&mut world, MINUTE_MS);
    assert_eq!(
        statuses(world.cloud(), grey),
        BTreeMap::from([(TaskStatus::Succeeded, 2)])
    );
    let full = create(&mut world, JobSpec::new(JobTarget::All), &package);
    advance(&mut world, MINUTE_MS);
    // The two upgraded devices are on the target already: not targeted again.
    assert_eq!(
        statuses(world.cloud(), full),
        BTreeMap::from([(TaskStatus::Succeeded, 23)])
    );
    let on_target = world
        .devices()
        .iter()
        .filter(|d| d.config().modules.values().all(|v| v == "2.0.0"))
        .count();
    assert_eq!(on_target, 25);
}

#[test]
fn a_dynamic_job_catches_devices_joining_over_an_hour() {
    let options = MemoryOptions {
        ramp_ms: 60 * MINUTE_MS,
        ..MemoryOptions::default()
    };
    let (mut world, package) = world_with(configs(40), options);
    advance(&mut world, 10 * MINUTE_MS);
    let early = world.connected();
    assert!(
        early > 0 && early < 40,
        "{early} joined in the first 10 minutes"
    );
    let mut spec = JobSpec::new(JobTarget::Dynamic(DynamicMode::FutureOnly));
    spec.src_versions = vec!["1.0.0".into()];
    let future_only = create(&mut world, spec, &package);
    let other = Package {
        version: "2.1.0".into(),
        sha256: "0".repeat(64),
        ..package.clone()
    };
    // One running dynamic job per package.
    let fleet = keys(&world);
    let now = world.now();
    let mut second = JobSpec::new(JobTarget::Dynamic(DynamicMode::CurrentAndFuture));
    second.src_versions = vec!["1.0.0".into()];
    let err = world
        .cloud_mut()
        .create_job(second.clone(), &package, SignMethod::Md5, &fleet, now)
        .unwrap_err();
    assert_eq!(err.code(), "JOB_DYNAMIC_JOB_EXISTS");
    assert!(
        world
            .cloud_mut()
            .create_job(second, &other, SignMethod::Md5, &fleet, now)
            .is_ok()
    );
    advance(&mut world, 70 * MINUTE_MS);
    assert_eq!(world.connected(), 40);
    let counts = statuses(world.cloud(), future_only);
    assert_eq!(
        counts,
        BTreeMap::from([(TaskStatus::Succeeded, 40 - early)])
    );
    assert_eq!(
        world.cloud().job_view(future_only).unwrap().status,
        JobStatus::InProgress
    );
}

#[test]
fn a_dynamic_job_of_mode_1_takes_current_devices_too() {
    let (mut world, package) = world(configs(6));
    let job = create(
        &mut world,
        JobSpec::new(JobTarget::Dynamic(DynamicMode::CurrentAndFuture)),
        &package,
    );
    advance(&mut world, MINUTE_MS);
    assert_eq!(
        statuses(world.cloud(), job),
        BTreeMap::from([(TaskStatus::Succeeded, 6)])
    );
}

#[test]
fn a_timeout_fails_the_task_and_is_never_retried() {
    let mut fleet = configs(2);
    fleet[1].fault = Fault::Stall { at_percent: 30 };
    let (mut world, package) = world(fleet);
    let mut spec = JobSpec::new(JobTarget::All);
    spec.timeout_minutes = Some(5);
    spec.retry = Some(Retry {
        interval_minutes: 0,
        count: 5,
    });
    let job = create(&mut world, spec, &package);
    advance(&mut world, 4 * MINUTE_MS);
    let stalled = world.cloud().list_tasks(job, 1, 10).unwrap()[1].clone();
    assert_eq!(stalled.status, TaskStatus::InProgress);
    advance(&mut world, 30 * MINUTE_MS);
    let stalled = world.cloud().task(stalled.id).unwrap();
    assert_eq!(stalled.status, TaskStatus::Failed);
    assert!(stalled.timed_out);
    assert_eq!((stalled.retries, stalled.pushes), (0, 1));
    assert!(stalled.desc.contains("timed out"), "{}", stalled.desc);
    let first = stalled.first_progress_ms.unwrap();
    assert_eq!(
        stalled.timeline.last().unwrap().at_ms,
        first + 5 * MINUTE_MS
    );
    let view = world.cloud().job_view(job).unwrap();
    assert_eq!((view.timed_out, view.status), (1, JobStatus::Completed));
    let key = DeviceKey::new("pk", "d001");
    let failure = world.cloud().report(&[key], world.now()).devices[0]
        .failure
        .clone()
        .unwrap();
    assert!(failure.reason.contains("timed out"), "{failure}");
}

#[test]
fn retries_push_again_after_the_interval_then_give_up() {
    let mut fleet = configs(1);
    fleet[0].fault = Fault::Fail {
        failure: Failure::Download,
        at_percent: 40,
    };
    let (mut world, package) = world(fleet);
    let mut spec = JobSpec::new(JobTarget::All);
    spec.retry = Some(Retry {
        interval_minutes: 10,
        count: 2,
    });
    let job = create(&mut world, spec, &package);
    let id = world.cloud().upgrade_jobs()[0].tasks[0];
    advance(&mut world, 5 * MINUTE_MS);
    let task = world.cloud().task(id).unwrap();
    assert_eq!(
        (task.status, task.pushes, task.is_final()),
        (TaskStatus::Failed, 1, false)
    );
    advance(&mut world, 30 * MINUTE_MS);
    let task = world.cloud().task(id).unwrap();
    assert_eq!(
        (task.status, task.pushes, task.retries),
        (TaskStatus::Failed, 3, 2)
    );
    assert!(task.is_final());
    // Each retry comes 10 minutes after the failure before it.
    let changes: Vec<(u64, TaskStatus)> =
        task.timeline.iter().map(|c| (c.at_ms, c.status)).collect();
    let fails: Vec<u64> = changes
        .iter()
        .filter(|(_, s)| *s == TaskStatus::Failed)
        .map(|(at, _)| *at)
        .collect();
    let notices: Vec<u64> = changes
        .iter()
        .filter(|(_, s)| *s == TaskStatus::Notified)
        .map(|(at, _)| *at)
        .collect();
    assert_eq!((fails.len(), notices.len()), (3, 3), "{changes:?}");
    assert_eq!(notices[1], fails[0] + 10 * MINUTE_MS);
    assert_eq!(notices[2], fails[1] + 10 * MINUTE_MS);
    let view = world.cloud().job_view(job).unwrap();
    assert_eq!(
        (view.retried, view.retries, view.pushes, view.status),
        (1, 2, 3, JobStatus::Completed)
    );
}

#[test]
fn an_ignored_notice_is_pushed_again_until_the_device_reacts() {
    let mut fleet = configs(1);
    fleet[0].auto_upgrade = false;
    let (mut world, package) = world(fleet);
    let job = create(&mut world, JobSpec::new(JobTarget::All), &package);
    advance(&mut world, 35 * MINUTE_MS);
    let view = world.cloud().job_view(job).unwrap();
    // At 0, 10, 20 and 30 minutes.
    assert_eq!(view.pushes, 4);
    assert_eq!(
        statuses(world.cloud(), job),
        BTreeMap::from([(TaskStatus::Notified, 1)])
    );
    assert!(world.devices()[0].notice().is_some());

    // Never, when pushing again is switched off.
    let (mut world, package) = world_with(
        {
            let mut c = configs(1);
            c[0].auto_upgrade = false;
            c
        },
        MemoryOptions::default(),
    );
    world.cloud_mut().set_repush_minutes(0);
    let job = create(&mut world, JobSpec::new(JobTarget::All), &package);
    advance(&mut world, 35 * MINUTE_MS);
    assert_eq!(world.cloud().job_view(job).unwrap().pushes, 1);
}

#[test]
fn a_schedule_waits_planned_and_the_finish_time_ends_the_job() {
    let mut fleet = configs(2);
    fleet[1].auto_upgrade = false;
    let (mut world, package) = world(fleet);
    let start = world.now() + 5 * MINUTE_MS;
    let mut spec = JobSpec::new(JobTarget::All);
    spec.schedule_ms = Some(start);
    spec.finish_ms = Some(start + 60 * MINUTE_MS);
    let job = create(&mut world, spec, &package);
    advance(&mut world, 4 * MINUTE_MS);
    let view = world.cloud().job_view(job).unwrap();
    assert_eq!((view.status, view.pushes), (JobStatus::Planned, 0));
    assert!(world.devices().iter().all(|d| d.notice().is_none()));
    advance(&mut world, 2 * MINUTE_MS);
    assert_eq!(
        world.cloud().job_view(job).unwrap().status,
        JobStatus::InProgress
    );
    let tasks = world.cloud().list_tasks(job, 1, 10).unwrap();
    let first = tasks[0]
        .timeline
        .iter()
        .find(|c| c.status == TaskStatus::Notified);
    assert_eq!(first.unwrap().at_ms, start);
    advance(&mut world, 60 * MINUTE_MS);
    assert_eq!(
        statuses(world.cloud(), job),
        BTreeMap::from([(TaskStatus::Succeeded, 1), (TaskStatus::Failed, 1)])
    );
    let view = world.cloud().job_view(job).unwrap();
    assert_eq!(view.status, JobStatus::Completed);
    let ignored = world.cloud().list_tasks(job, 1, 10).unwrap()[1].clone();
    assert_eq!(ignored.desc, "the job's finish time passed");
    assert_eq!(
        ignored.timeline.last().unwrap().at_ms,
        start + 60 * MINUTE_MS
    );
}

#[test]
fn cancel_by_state_and_a_cancelled_schedule() {
    let (mut world, package) = world(configs(25));
    let mut spec = JobSpec::new(JobTarget::All);
    spec.maximum_per_minute = 10;
    let job = create(&mut world, spec, &package);
    let now = world.now();
    let cloud = world.cloud_mut();
    assert_eq!(
        cloud
            .cancel_tasks(job, CancelTasks::default(), now)
            .unwrap_err()
            .code(),
        "JOB_NOTHING_TO_CANCEL"
    );
    let scheduled = CancelTasks {
        scheduled: true,
        ..CancelTasks::default()
    };
    assert_eq!(
        cloud.cancel_tasks(job, scheduled, now).unwrap_err().code(),
        "JOB_NOT_SCHEDULED"
    );
    assert_eq!(
        cloud.cancel_tasks(9, scheduled, now).unwrap_err().code(),
        "JOB_NOT_FOUND"
    );
    let queued = CancelTasks {
        queued: true,
        ..CancelTasks::default()
    };
    assert_eq!(cloud.cancel_tasks(job, queued, now).unwrap(), 15);
    advance(&mut world, 5 * MINUTE_MS);
    assert_eq!(
        statuses(world.cloud(), job),
        BTreeMap::from([(TaskStatus::Succeeded, 10), (TaskStatus::Canceled, 15)])
    );
    assert_eq!(
        world.cloud().job_view(job).unwrap().status,
        JobStatus::Completed
    );

    // A planned job cancelled sends nothing.
    let (mut world, package) = self::world(configs(3));
    let mut spec = JobSpec::new(JobTarget::All);
    spec.schedule_ms = Some(world.now() + 10 * MINUTE_MS);
    let job = create(&mut world, spec, &package);
    let now = world.now();
    world.cloud_mut().cancel_tasks(job, scheduled, now).unwrap();
    advance(&mut world, 20 * MINUTE_MS);
    let view = world.cloud().job_view(job).unwrap();
    assert_eq!((view.status, view.pushes), (JobStatus::Canceled, 0));
    assert!(world.devices().iter().all(|d| d.notice().is_none()));
}

#[test]
fn overwrite_modes_and_one_unfinished_job_per_device() {
    let (mut world, package) = world(configs(2));
    let mut held = JobSpec::new(JobTarget::All);
    held.need_confirm = true;
    let first = create(&mut world, held, &package);
    let keep = create(&mut world, JobSpec::new(JobTarget::All), &package);
    assert_eq!(
        statuses(world.cloud(), keep),
        BTreeMap::from([(TaskStatus::Failed, 2)])
    );
    let desc = &world.cloud().list_tasks(keep, 1, 10).unwrap()[0].desc;
    assert!(
        desc.contains("unfinished task") && desc.contains("job 1"),
        "{desc}"
    );
    let mut replace = JobSpec::new(JobTarget::All);
    replace.overwrite = OverwriteMode::Replace;
    let third = create(&mut world, replace, &package);
    advance(&mut world, MINUTE_MS);
    assert_eq!(
        statuses(world.cloud(), first),
        BTreeMap::from([(TaskStatus::Canceled, 2)])
    );
    assert_eq!(
        statuses(world.cloud(), third),
        BTreeMap::from([(TaskStatus::Succeeded, 2)])
    );
    let key = DeviceKey::new("pk", "d000");
    let timeline: Vec<u32> = world
        .cloud()
        .device_tasks(&key)
        .iter()
        .map(|t| t.job)
        .collect();
    assert_eq!(timeline, [first, keep, third]);
}

#[test]
fn reupgrade_pushes_a_failed_task_again() {
    let mut fleet = configs(1);
    fleet[0].fault = Fault::Fail {
        failure: Failure::Flash,
        at_percent: 100,
    };
    let (mut world, package) = world(fleet);
    let job = create(&mut world, JobSpec::new(JobTarget::All), &package);
    advance(&mut world, MINUTE_MS);
    let id = world.cloud().upgrade_jobs()[0].tasks[0];
    assert_eq!(world.cloud().task(id).unwrap().status, TaskStatus::Failed);
    let now = world.now();
    let cloud = world.cloud_mut();
    assert_eq!(
        cloud.reupgrade_tasks(job, &[], now).unwrap_err().code(),
        "JOB_TASK_ID_COUNT"
    );
    assert_eq!(
        cloud.reupgrade_tasks(job, &[99], now).unwrap_err().code(),
        "JOB_TASK_NOT_FOUND"
    );
    let out = cloud.reupgrade_tasks(job, &[id], now).unwrap();
    assert_eq!(out.len(), 1);
    world.publish(out);
    advance(&mut world, MINUTE_MS);
    let task = world.cloud().task(id).unwrap();
    assert_eq!((task.status, task.pushes), (TaskStatus::Failed, 2));
    assert!(task.timeline.iter().any(|c| c.desc == "upgraded again"));
}

#[test]
fn tags_and_module_reach_the_device_in_the_notice() {
    let (mut world, package) = world(configs(1));
    let mut spec = JobSpec::new(JobTarget::Specific(vec![DeviceKey::new("pk", "d000")]));
    spec.tags = BTreeMap::from([("region".to_owned(), "eu".to_owned())]);
    create(&mut world, spec, &package);
    advance(&mut world, 100);
    let notice = world.devices()[0].notice().unwrap();
    assert_eq!(
        notice.ext_data.get("region").map(String::as_str),
        Some("eu")
    );
}

// The protocol details, against the cloud alone (a device's messages written by hand).

const NOW: u64 = 1_767_225_600_000;

fn cloud_with_device() -> (Cloud, Package, DeviceKey) {
    let mut cloud = Cloud::new(1);
    let key = DeviceKey::new("pk", "dev");
    cloud.message(
        "/ota/device/inform/pk/dev",
        br#"{"id":"1","params":{"version":"1.0.0"}}"#,
        NOW,
    );
    (cloud, package().0, key)
}

#[test]
fn a_device_that_comes_back_gets_the_notice_again() {
    let (mut cloud, package, key) = cloud_with_device();
    let (job, out) = cloud
        .create_job(
            JobSpec::new(JobTarget::All),
            &package,
            SignMethod::Md5,
            &[key],
            NOW,
        )
        .unwrap();
    assert_eq!(out.len(), 1);
    let out = cloud.message(
        "/ota/device/inform/pk/dev",
        br#"{"id":"2","params":{"version":"1.0.0"}}"#,
        NOW + 1000,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].topic, "/ota/device/upgrade/pk/dev");
    assert_eq!(
        out[0].payload,
        cloud
            .job(&DeviceKey::new("pk", "dev"))
            .unwrap()
            .notice
            .encode()
            .into_bytes()
    );
    assert_eq!(cloud.job_view(job).unwrap().pushes, 2);
    // Step 0 ends the pushing: the task is in progress, and no timer pushes again.
    cloud.message(
        "/ota/device/progress/pk/dev",
        br#"{"id":"3","params":{"step":"0","desc":""}}"#,
        NOW + 2000,
    );
    assert_eq!(
        statuses(&cloud, job),
        BTreeMap::from([(TaskStatus::InProgress, 1)])
    );
    // A timer set before may still fall due (a wake-up may be early); it sends nothing, and
    // nothing waits after it.
    if let Some(due) = cloud.poll_timeout() {
        assert!(cloud.handle_timeout(due).is_empty());
    }
    assert_eq!(cloud.poll_timeout(), None);
    assert!(cloud.handle_timeout(NOW + 60 * MINUTE_MS).is_empty());
}

#[test]
fn a_job_without_push_waits_for_the_device_to_pull() {
    let (mut cloud, package, key) = cloud_with_device();
    let mut spec = JobSpec::new(JobTarget::All);
    spec.need_push = false;
    let (job, out) = cloud
        .create_job(spec, &package, SignMethod::Md5, &[key], NOW)
        .unwrap();
    assert!(out.is_empty());
    assert!(cloud.handle_timeout(NOW + 60 * MINUTE_MS).is_empty());
    assert_eq!(
        statuses(&cloud, job),
        BTreeMap::from([(TaskStatus::Queued, 1)])
    );
    let out = cloud.message(
        "/sys/pk/dev/thing/ota/firmware/get",
        br#"{"id":"9","version":"1.0","params":{"module":"default"},"method":"thing.ota.firmware.get"}"#,
        NOW + 61 * MINUTE_MS,
    );
    assert_eq!(out.len(), 1);
    let text = String::from_utf8(out[0].payload.clone()).unwrap();
    assert!(
        text.contains("\"2.0.0\"") && text.contains("fw.bin"),
        "{text}"
    );
    assert_eq!(
        statuses(&cloud, job),
        BTreeMap::from([(TaskStatus::Notified, 1)])
    );
}

#[test]
fn job_calls_are_refused_with_the_platforms_codes() {
    let (mut cloud, package, key) = cloud_with_device();
    let fleet = [key];
    let mut spec = JobSpec::new(JobTarget::All);
    spec.retry = Some(Retry {
        interval_minutes: 15,
        count: 1,
    });
    let err = cloud
        .create_job(spec, &package, SignMethod::Md5, &fleet, NOW)
        .unwrap_err();
    assert_eq!(err.code(), "JOB_INVALID_RETRY_INTERVAL");
    assert!(err.to_string().contains("15"), "{err}");
    let err = cloud
        .create_job(
            JobSpec::new(JobTarget::Group("lab".into())),
            &package,
            SignMethod::Md5,
            &fleet,
            NOW,
        )
        .unwrap_err();
    assert_eq!(err.code(), "JOB_NO_SUCH_GROUP");
    cloud.define_group("lab", fleet.to_vec());
    cloud
        .create_job(
            JobSpec::new(JobTarget::Group("lab".into())),
            &package,
            SignMethod::Md5,
            &fleet,
            NOW,
        )
        .unwrap();
    let mut spec = JobSpec::new(JobTarget::All);
    spec.src_versions = vec!["0.9".into()];
    let err = cloud
        .create_job(spec, &package, SignMethod::Md5, &fleet, NOW)
        .unwrap_err();
    assert_eq!(err.code(), "JOB_NO_MATCHING_DEVICE");
    let mut spec = JobSpec::new(JobTarget::All);
    spec.download = otalab_sim::DownloadProtocol::Mqtt;
    let err = cloud
        .create_job(spec, &package, SignMethod::Md5, &fleet, NOW)
        .unwrap_err();
    assert_eq!(err.code(), "PACKAGE_NOT_LOADED");
    assert_eq!(
        cloud.list_tasks(1, 0, 10).unwrap_err().code(),
        "JOB_PAGE_OUT_OF_RANGE"
    );
    assert_eq!(
        cloud.list_tasks(1, 1, 101).unwrap_err().code(),
        "JOB_PAGE_OUT_OF_RANGE"
    );
    assert_eq!(
        cloud.list_tasks(1, 1001, 100).unwrap_err().code(),
        "JOB_PAGE_OUT_OF_RANGE"
    );
    assert_eq!(cloud.list_tasks(1, 1, 100).unwrap().len(), 1);
}

// The example job scenarios (examples/jobs), in memory: hours of policy in a second.

fn job_examples() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jobs");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn run_example(path: &std::path::Path) -> otalab_sim::Report {
    use otalab_sim::memory::{DEMO_FIRMWARE, prepare, run_scenario};
    let scenario = otalab_sim::Scenario::parse(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fleet = scenario.fleet(|_| Err("no files".into())).unwrap();
    let demo = |want: &otalab_sim::FirmwareWanted| {
        let name = want.url.strip_prefix(FIRMWARE_BASE).unwrap_or(&want.url);
        DEMO_FIRMWARE
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, size, seed)| demo_firmware(*size, *seed))
            .ok_or_else(|| format!("{name}: not a demo file"))
    };
    let (run, mut world) = prepare(
        &scenario,
        &fleet,
        otalab_sim::Shard::ALL,
        MemoryOptions::default(),
        demo,
    )
    .unwrap();
    run_scenario(run, &mut world).unwrap()
}

#[test]
fn every_job_example_passes_in_memory() {
    let files = job_examples();
    assert!(files.len() >= 4, "{files:?}");
    for path in files {
        let report = run_example(&path);
        let failed: Vec<_> = report.expectations.iter().filter(|e| !e.held).collect();
        assert!(report.passed(), "{}: {failed:#?}", path.display());
        assert!(!report.jobs.is_empty(), "{}", path.display());
        // The task expectations were judged, not skipped.
        assert!(
            report
                .expectations
                .iter()
                .any(|e| e.name.starts_with("tasks ")),
            "{}",
            path.display()
        );
    }
}

#[test]
fn a_job_scenario_is_judged_by_its_task_counts() {
    let path = job_examples()
        .into_iter()
        .find(|p| p.ends_with("timeout.toml"))
        .unwrap();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("timed_out = 1", "timed_out = 0");
    let dir = std::env::temp_dir().join(format!("otalab-jobs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wrong = dir.join("timeout.toml");
    std::fs::write(&wrong, text).unwrap();
    let report = run_example(&wrong);
    let failed: Vec<&otalab_sim::ExpectationResult> =
        report.expectations.iter().filter(|e| !e.held).collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].name, "tasks timed_out: exactly 0");
    assert!(
        failed[0].detail.starts_with("1 of 10 tasks timed_out"),
        "{}",
        failed[0].detail
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Checks that each edit of the example `example` (`from` → `to`) is refused when the scenario is
/// read, with a message that starts with `path` (unless empty) and contains `needle`.
fn assert_refused(example: &str, cases: &[(&str, &str, &str, &str)]) {
    let base = std::fs::read_to_string(
        job_examples()
            .into_iter()
            .find(|p| p.ends_with(example))
            .unwrap(),
    )
    .unwrap();
    for (from, to, path, needle) in cases {
        let text = base.replacen(from, to, 1);
        assert_ne!(text, base, "{from}");
        let message = otalab_sim::Scenario::parse(&text).unwrap_err().to_string();
        assert!(message.contains(needle), "{from} -> {to}: {message}");
        assert!(
            message.starts_with(path) || path.is_empty(),
            "{from} -> {to}: {message}"
        );
    }
}

#[test]
fn a_job_action_is_checked_when_the_scenario_is_read() {
    assert_refused(
        "retries.toml",
        &[
            (
                "retry_interval_minutes = 10",
                "retry_interval_minutes = 15",
                "actions[0].job",
                "JOB_INVALID_RETRY_INTERVAL",
            ),
            (
                "retry_count = 2",
                "retry_count = 3",
                "actions[0].job",
                "JOB_INVALID_RETRY_COUNT",
            ),
            (
                ", retry_count = 2",
                "",
                "actions[0].job.retry_count",
                "retry_interval_minutes and retry_count",
            ),
            (
                "target = \"all\"",
                "target = \"gray\"",
                "actions[0].job.gray_percent",
                "needs gray_percent",
            ),
            (
                "target = \"all\"",
                "target = \"gray\", gray_percent = \"12.3456\"",
                "actions[0].job",
                "JOB_INVALID_GRAY_PERCENT",
            ),
            (
                "target = \"all\"",
                "target = \"all\", maximum_per_minute = 5",
                "actions[0].job",
                "JOB_RATE_OUT_OF_RANGE",
            ),
            (
                "target = \"all\"",
                "target = \"all\", colour = \"red\"",
                "",
                "unknown field `colour`",
            ),
            (
                "push = \"v2\"",
                "push = \"v2\"\nnotice = \"bad_digest\"",
                "actions[0].notice",
                "correct notices",
            ),
            ("retried = 4", "lost = 4", "", "unknown variant `lost`"),
        ],
    );
}

/// Runs `example` with `from` replaced by `to` (each must change the file) and returns the report.
fn run_changed(example: &str, edits: &[(&str, &str)]) -> otalab_sim::Report {
    let path = job_examples()
        .into_iter()
        .find(|p| p.ends_with(example))
        .unwrap();
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in edits {
        let changed = text.replacen(from, to, 1);
        assert_ne!(changed, text, "{from}");
        text = changed;
    }
    let dir = std::env::temp_dir().join(format!(
        "otalab-jobs-{}-{}",
        std::process::id(),
        example.len() + edits.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let changed = dir.join(example);
    std::fs::write(&changed, text).unwrap();
    let report = run_example(&changed);
    let _ = std::fs::remove_dir_all(&dir);
    report
}

#[test]
fn a_scenario_cancels_queued_tasks_and_upgrades_them_again() {
    // As written: every device ends upgraded (the example's own expectations).
    let full = run_example(
        &job_examples()
            .into_iter()
            .find(|p| p.ends_with("cancel-then-reupgrade.toml"))
            .unwrap(),
    );
    assert!(full.passed(), "{:#?}", full.expectations);
    let job = &full.jobs[0];
    assert_eq!(job.counts[&otalab_sim::TaskStatus::Succeeded], 30);
    // Every device was told once: the cancelled tasks had never been notified.
    assert_eq!(job.pushes, 30);
    let origin = otalab_sim::memory::ORIGIN_MS;
    let late = full
        .devices
        .iter()
        .filter(|d| {
            d.steps
                .first()
                .is_some_and(|s| s.at_ms - origin >= 5 * MINUTE_MS)
        })
        .count();
    assert_eq!(
        late, 20,
        "the 20 cancelled devices start after the re-upgrade"
    );

    // Without the re-upgrade, the 20 queued tasks stay CANCELED and their devices on 1.0.0.
    let cancelled = run_changed(
        "cancel-then-reupgrade.toml",
        &[(", reupgrade_after_ms = 300000", "")],
    );
    let job = &cancelled.jobs[0];
    assert_eq!(job.counts[&otalab_sim::TaskStatus::Canceled], 20);
    assert_eq!(job.counts[&otalab_sim::TaskStatus::Succeeded], 10);
    assert_eq!(cancelled.summary.succeeded, 10);
    let failed: Vec<&str> = cancelled
        .expectations
        .iter()
        .filter(|e| !e.held)
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        failed,
        [
            "succeeded: exactly 30",
            "tasks succeeded: exactly 30",
            "tasks canceled: exactly 0"
        ]
    );

    // Cancelling notified and in-progress tasks too, at 61 s, with a 30 s flash: the second
    // minute's ten are caught mid-way, the first ten have finished.
    let caught = run_changed(
        "cancel-then-reupgrade.toml",
        &[
            ("flash_ms = 200", "flash_ms = 30000"),
            (
                "after_ms = 30000, queued = true",
                "after_ms = 61000, queued = true, in_progress = true, notified = true",
            ),
            (", reupgrade_after_ms = 300000", ""),
        ],
    );
    assert_eq!(caught.jobs[0].counts[&otalab_sim::TaskStatus::Canceled], 20);
    assert_eq!(
        caught.jobs[0].counts[&otalab_sim::TaskStatus::Succeeded],
        10
    );
}

#[test]
fn a_scenario_cancel_or_reupgrade_is_checked_when_read() {
    assert_refused(
        "cancel-then-reupgrade.toml",
        &[
            (
                "cancel = { after_ms = 30000, queued = true }",
                "cancel = { after_ms = 30000 }",
                "actions[0].job.cancel",
                "at least one of scheduled",
            ),
            (
                "reupgrade_after_ms = 300000",
                "reupgrade_after_ms = 20000",
                "actions[0].job.reupgrade_after_ms",
                "after cancel.after_ms (30000)",
            ),
            (
                "queued = true }",
                "queued = true, running = true }",
                "",
                "unknown field `running`",
            ),
            ("after_ms = 30000, ", "", "", "missing field `after_ms`"),
        ],
    );
}

#[test]
fn a_dynamic_job_catches_the_late_joiners_as_they_come_online() {
    let path = job_examples()
        .into_iter()
        .find(|p| p.ends_with("dynamic-late-joiners.toml"))
        .unwrap();
    let scenario = otalab_sim::Scenario::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let join = scenario.device.join.clone().unwrap();
    let report = run_example(&path);
    assert!(report.passed(), "{:#?}", report.expectations);
    assert_eq!(report.devices.len(), 30);
    let origin = otalab_sim::memory::ORIGIN_MS;
    for (i, device) in report.devices.iter().enumerate() {
        let first = device.steps.first().map(|s| s.at_ms - origin).unwrap();
        let joined = join.join_after_ms(i, 30);
        if i < 10 {
            assert_eq!(joined, 0);
            // Online from the start: upgraded in the first minute.
            assert!(
                first < MINUTE_MS,
                "{}: first step at {first} ms",
                device.device_name
            );
        } else {
            // Offline until its time (3 minutes, then every 3 minutes), upgraded right after.
            assert_eq!(joined, 180_000 + (i as u64 - 10) * 180_000);
            assert!(
                first >= joined,
                "{}: step at {first} before joining at {joined}",
                device.device_name
            );
            assert!(
                first < joined + MINUTE_MS,
                "{}: step at {first}, joined at {joined}",
                device.device_name
            );
        }
    }
    // Every device was the job's: one task each, all succeeded.
    let job = &report.jobs[0];
    assert_eq!(job.total(), 30);
}

/// A run waits for a job's forced finish (`ScheduleFinishTime`) as it waits for retries and
/// timeouts: a stalled task is failed by the finish, not reported still in progress.
#[test]
fn a_run_waits_for_the_forced_finish() {
    let report = run_changed(
        "timeout.toml",
        &[
            (
                "job = { target = \"all\", timeout_minutes = 5, retry_interval_minutes = 0, retry_count = 1 }",
                "job = { target = \"all\", finish_in_minutes = 60 }",
            ),
            ("time_limit_ms = 900000", "time_limit_ms = 7200000"),
            ("timed_out = 1", "timed_out = 0"),
        ],
    );
    assert!(report.passed(), "{:?}", report.expectations);
    let job = &report.jobs[0];
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.counts[&TaskStatus::Failed], 1);
    assert_eq!(job.counts[&TaskStatus::InProgress], 0);
}
