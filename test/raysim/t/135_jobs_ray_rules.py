"""GetAllJobInfo as Ray's src/ray/gcs/gcs_job_manager.cc HandleGetAllJobInfo
has it (issue 16 section 1); docs/simulator.md lists the rule.

- every entry carries `config` (JobConfig: ray_namespace = 5, metadata = 6);
  a Jobs API submission's driver has metadata["job_submission_id"], and
  `job_or_submission_id` matches either the job id (hex) or that key;
- `job_info` comes from the KV store only for entries with that key, and not
  at all with skip_submission_job_info_field;
- `is_running_tasks`: false for dead jobs, the driver's answer for live ones,
  and left unset (not false) with skip_is_running_tasks_field.
"""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from raysim import tap as th  # noqa: E402
import unittest

from raysim import cluster
from raysim.client import Simulator
from raysim.encode import job_config_metadata
from raysim.proto import pb
from raysim.replay import split_fields

EPOCH = 1_800_000_000_000
M = {r: m for m, (_, _, r) in cluster.METHODS.items()}


def jobs(sim, **fields):
    q = pb().GetAllJobInfoRequest()
    for k, v in fields.items():
        setattr(q, k, v)
    r = pb().GetAllJobInfoReply()
    r.ParseFromString(sim.call(M["jobs"], q.SerializeToString()))
    return r


def namespace(cfg):
    return [v.decode() for n, w, v in split_fields(cfg) if n == 5]


def summary(reply):
    """(entrypoint, namespace, metadata, job_info status or None,
    is_running_tasks or None) per entry, sorted (the GCS answers in hash order)."""
    out = []
    for j in reply.job_info_list:
        out.append((j.entrypoint, namespace(j.config), job_config_metadata(j.config),
                    j.job_info.status if j.HasField("job_info") else None,
                    j.is_running_tasks if j.HasField("is_running_tasks") else None))
    return sorted(out, key=repr)


class Jobs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator(profile="master", scenario="mixed", speed=0, epoch_ms=EPOCH)
        cls.sim.admin("/advance", {"ms": 3_600_000})
        cls.full = jobs(cls.sim)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def sid(self, entrypoint):
        j = [j for j in self.full.job_info_list if j.entrypoint == entrypoint][0]
        return job_config_metadata(j.config)["job_submission_id"]

    def test_config_job_info_and_running_without_skips(self):
        etl, train = self.sid("python etl.py"), self.sid("python train.py --epochs 3")
        self.assertRegex(etl, r"^raysubmit_[0-9a-f]{16}$")
        self.assertEqual(summary(self.full), sorted([
            ("python demo.py", ["anonymous_ns"], {}, None, True),
            ("python etl.py", ["job_ns_" + etl[10:]], {"job_submission_id": etl}, "FAILED", False),
            ("python train.py --epochs 3", ["job_ns_" + train[10:]],
             {"job_submission_id": train, "team": "ml"},
             "SUCCEEDED", False)], key=repr))

    def test_skips_leave_job_info_and_is_running_tasks_unset(self):
        for skip_info, skip_run in ((True, False), (False, True), (True, True)):
            with self.subTest(skip_info=skip_info, skip_run=skip_run):
                got = summary(jobs(self.sim, skip_submission_job_info_field=skip_info,
                                   skip_is_running_tasks_field=skip_run))
                want = [(e, ns, md, None if skip_info else st, None if skip_run else run)
                        for e, ns, md, st, run in summary(self.full)]
                self.assertEqual(got, want)
                # The config is never skipped.
                self.assertEqual(len([g for g in got if g[2].get("job_submission_id")]), 2)

    def test_job_or_submission_id_matches_metadata_key_or_hex_id(self):
        etl = self.sid("python etl.py")
        self.assertEqual([j.entrypoint for j in jobs(self.sim, job_or_submission_id=etl).job_info_list],
                         ["python etl.py"])
        drv = [j for j in self.full.job_info_list if j.entrypoint == "python demo.py"][0]
        got = jobs(self.sim, job_or_submission_id=drv.job_id.hex()).job_info_list
        self.assertEqual([j.entrypoint for j in got], ["python demo.py"])
        self.assertEqual(len(jobs(self.sim, job_or_submission_id="raysubmit_nosuch").job_info_list), 0)


th.main(globals())
