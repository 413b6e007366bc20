// Package failover holds what the attempts of one YARN application share on
// HDFS, so that a new ApplicationMaster attempt can take over from a dead
// one without ZooKeeper (DESIGN.md, decision 9):
//
//   - the job's metadata (job.json in the application's staging directory):
//     the job id, the binary's LocalResource, the arguments and configuration,
//     the savepoint the job started from and the checkpoint directory, written
//     by the first attempt before the job starts;
//   - the current JobManager's address (jobmanager.json), written by every
//     attempt once it serves, with its attempt number. A TaskManager that
//     loses its JobManager re-reads it to find the successor, and a
//     JobManager about to commit a checkpoint reads it to learn whether it
//     has been superseded. A session's supervisors follow it too;
//   - a session's jobs (jobs/<job id>.json): each job's submission, written
//     before the job starts and removed when it ends, which a new session
//     attempt resubmits;
//   - jobs that ended (ended/<job id>.json): written when a job FINISHED or
//     FAILED, before its outputs are published or removed; a new attempt
//     that finds one settles the outputs and ends the job as recorded
//     instead of running it again.
//
// Both files are written under a temporary name and renamed into place, so a
// reader sees a whole file or the previous one. The attempt number is the
// fencing token: YARN runs at most one live attempt at a time as far as it
// knows, and a higher number always wins.
package failover
