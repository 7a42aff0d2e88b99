//! The AWS-backed gates: the ALB series and alarms in CloudWatch ([`cloudwatch`])
//! and ECR, Secrets Manager, RDS, AWS Backup and S3 for the release gates
//! ([`aws`]). The thresholds, statistics and verdicts they use are in
//! `stageos-smoke-gates`; the SDKs are here alone, so an edit to a flow, a gate's
//! judging or a reporter never recompiles them.

pub mod aws;
pub mod cloudwatch;
pub mod seed;
