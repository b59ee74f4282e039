"""A campaign as a QA engineer writes it for Alibaba Cloud IoT Platform with the official SDK
(alibabacloud-iot20180120), pointed at `otalab serve` by its endpoint and keys only.

Usage: campaign.py ENDPOINT ACCESS_KEY_ID ACCESS_KEY_SECRET PRODUCT_KEY DEVICE_COUNT FIRMWARE_FILE
The devices (dev-001…) must be running (otalab devices) with a share failing every download.
Prints one JSON line per step; exits non-zero when the platform answers something unexpected.
"""
import hashlib
import json
import sys
import time

import requests
from alibabacloud_iot20180120 import models
from alibabacloud_iot20180120.client import Client
from alibabacloud_tea_openapi import models as open_api

endpoint, ak, secret, pk, count, firmware = sys.argv[1:7]
count = int(count)
client = Client(open_api.Config(access_key_id=ak, access_key_secret=secret, endpoint=endpoint,
                                protocol="http", region_id="cn-shanghai"))


def step(name, **facts):
    print(json.dumps({"step": name, **facts}), flush=True)


def ok(response):
    body = response.body
    if not body.success:
        raise SystemExit(f"{type(body).__name__}: {body.code}: {body.error_message}")
    return body


def wait_job(job_id, done, limit=240):
    """Polls QueryOTAJob and ListOTATaskByJob until `done(tasks)` holds."""
    deadline = time.time() + limit
    while True:
        job = ok(client.query_otajob(models.QueryOTAJobRequest(job_id=job_id))).data
        tasks, page = [], 1
        while True:
            body = ok(client.list_otatask_by_job(models.ListOTATaskByJobRequest(
                job_id=job_id, current_page=page, page_size=100)))
            tasks += body.data.simple_otatask_info
            if page >= body.page_count:
                break
            page += 1
        if done(tasks):
            return job, tasks
        if time.time() > deadline:
            counts = {}
            for t in tasks:
                counts[t.task_status] = counts.get(t.task_status, 0) + 1
            raise SystemExit(f"job {job_id}: not done after {limit} s: {counts}")
        time.sleep(0.5)


def counts(tasks):
    out = {}
    for t in tasks:
        out[t.task_status] = out.get(t.task_status, 0) + 1
    return out


# 1. Devices.
names = [f"dev-{i:03d}" for i in range(1, count + 1)]
for name in names:
    response = client.register_device(models.RegisterDeviceRequest(product_key=pk, device_name=name)).body
    if response.code == "iot.device.AlreadyExistedDeviceName":
        continue
    body = ok(client.register_device(models.RegisterDeviceRequest(product_key=pk, device_name=name))) if not response.success else response
    assert body.data.device_secret and len(body.data.device_secret) >= 16
step("registered", devices=len(names))
# Wait until every device reported its version (ListOTAModuleVersionsByDevice).
deadline = time.time() + 60
while True:
    versions = [ok(client.list_otamodule_versions_by_device(models.ListOTAModuleVersionsByDeviceRequest(
        product_key=pk, device_name=n))).data.simple_otamodule_info for n in names]
    if all(v for v in versions):
        break
    if time.time() > deadline:
        raise SystemExit("the devices did not report their versions")
    time.sleep(0.5)
detail = ok(client.query_device_detail(models.QueryDeviceDetailRequest(product_key=pk, device_name=names[0]))).data
assert detail.status == "ONLINE", detail.status
assert detail.firmware_version == "1.0.0", detail.firmware_version
step("online", status=detail.status, version=detail.firmware_version)

# 2. Firmware: upload it where GenerateOTAUploadURL says, then create it.
data = open(firmware, "rb").read()
upload = ok(client.generate_otaupload_url(models.GenerateOTAUploadURLRequest(file_suffix="bin"))).data
form = {"key": upload.key, "policy": upload.policy, "OSSAccessKeyId": upload.ossaccess_key_id,
        "Signature": upload.signature, "success_action_status": "200"}
posted = requests.post(upload.host, data=form, files={"file": ("fw.bin", data)})
assert posted.status_code in (200, 204), posted.text
md5 = hashlib.md5(data).hexdigest()
created = ok(client.create_otafirmware(models.CreateOTAFirmwareRequest(
    product_key=pk, firmware_name="demo-2.0.0", dest_version="2.0.0", firmware_url=upload.firmware_url,
    firmware_size=len(data), firmware_sign=md5, sign_method="MD5")))
firmware_id = created.data.firmware_id
info = ok(client.query_otafirmware(models.QueryOTAFirmwareRequest(firmware_id=firmware_id))).firmware_info
assert info.firmware_sign == md5 and info.firmware_size == len(data) and info.dest_version == "2.0.0"
step("firmware", firmware_id=firmware_id, size=len(data))

# 3. A grey job (half the fleet) with a retry and a timeout.
gray = ok(client.create_otastatic_upgrade_job(models.CreateOTAStaticUpgradeJobRequest(
    product_key=pk, firmware_id=firmware_id, target_selection="GRAY", gray_percent="50",
    retry_count=1, retry_interval=0, timeout_in_minutes=5,
    tag=[models.CreateOTAStaticUpgradeJobRequestTag(key="ring", value="canary")]))).data.job_id
job, tasks = wait_job(gray, lambda ts: all(t.task_status in ("SUCCEEDED", "FAILED") for t in ts))
assert job.job_status == "COMPLETED", job.job_status
assert job.target_selection == "GRAY" and job.retry_count == 1 and job.timeout_in_minutes == 5
assert [(t.key, t.value) for t in job.tags.ota_tag_dto] == [("ring", "canary")]
step("gray job", job_id=gray, status=job.job_status, tasks=counts(tasks))
grey_names = {t.device_name for t in tasks}
grey_failed = sorted(t.device_name for t in tasks if t.task_status == "FAILED")
assert len(grey_names) == count // 2, len(grey_names)

# 4. The rest of the fleet, at a limited rate; cancel what is still queued after the first minute.
full = ok(client.create_otastatic_upgrade_job(models.CreateOTAStaticUpgradeJobRequest(
    product_key=pk, firmware_id=firmware_id, target_selection="SPECIFIC",
    target_device_name=[n for n in names if n not in grey_names], maximum_per_minute=10))).data.job_id
queued = ok(client.list_otatask_by_job(models.ListOTATaskByJobRequest(
    job_id=full, task_status="QUEUED", current_page=1, page_size=100))).total
ok(client.cancel_otatask_by_job(models.CancelOTATaskByJobRequest(job_id=full, cancel_queued_task=True)))
job, tasks = wait_job(full, lambda ts: all(t.task_status in ("SUCCEEDED", "FAILED", "CANCELED") for t in ts))
step("rate-limited job", job_id=full, queued_then_cancelled=queued, tasks=counts(tasks))
assert queued > 0 and counts(tasks).get("CANCELED", 0) == queued, (queued, counts(tasks))

# 5. Upgrade the failed and the cancelled again (10 task ids a call).
again = [t for t in tasks if t.task_status in ("FAILED", "CANCELED")]
for i in range(0, len(again), 10):
    ok(client.reupgrade_otatask(models.ReupgradeOTATaskRequest(job_id=full, task_id=[t.task_id for t in again[i:i + 10]])))
job, tasks = wait_job(full, lambda ts: all(t.task_status in ("SUCCEEDED", "FAILED") for t in ts))
step("re-upgraded", job_id=full, tasks=counts(tasks))

# 6. A job that waits for confirmation: nothing is sent until ConfirmOTATask.
failed = grey_failed
if failed:
    confirm = ok(client.create_otastatic_upgrade_job(models.CreateOTAStaticUpgradeJobRequest(
        product_key=pk, firmware_id=firmware_id, target_selection="SPECIFIC", target_device_name=failed[:10],
        need_confirm=True))).data.job_id
    waiting = ok(client.list_otatask_by_job(models.ListOTATaskByJobRequest(job_id=confirm, current_page=1, page_size=100))).data.simple_otatask_info
    assert all(t.task_status == "CONFIRM" for t in waiting), [t.task_status for t in waiting]
    unfinished = ok(client.list_otaunfinished_task_by_device(models.ListOTAUnfinishedTaskByDeviceRequest(
        product_key=pk, device_name=failed[0], task_status="CONFIRM"))).data.simple_otatask_info
    assert [t.job_id for t in unfinished] == [confirm], unfinished
    ok(client.confirm_otatask(models.ConfirmOTATaskRequest(task_id=[t.task_id for t in waiting])))
    job, tasks = wait_job(confirm, lambda ts: all(t.task_status in ("SUCCEEDED", "FAILED") for t in ts))
    step("confirmed job", job_id=confirm, tasks=counts(tasks))

# 7. What the platform says of a wrong call.
wrong = client.query_otajob(models.QueryOTAJobRequest(job_id="no-such-job")).body
assert wrong.success is False and wrong.code == "iot.ota.JobNotExist", wrong.to_map()
jobs = ok(client.list_otajob_by_firmware(models.ListOTAJobByFirmwareRequest(firmware_id=firmware_id, current_page=1, page_size=10)))
step("done", jobs=jobs.total)
