//! Temporary probe (replaced by the real tests).
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};

fn main() {
    let ep = std::env::var("PROBE_ENDPOINT").expect("PROBE_ENDPOINT");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let cfg = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new("a", "b", None, None, "t")))
            .endpoint_url(ep)
            .build();
        let ecr = aws_sdk_ecr::Client::new(&cfg);
        println!("ecr create: {:?}", ecr.create_repository().repository_name("probe-api").send().await.map(|_| ()).map_err(|e| aws_sdk_ecr::error::DisplayErrorContext(e).to_string()));
        let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}"#;
        println!("ecr put: {:?}", ecr.put_image().repository_name("probe-api").image_manifest(manifest).image_tag("v1.3.0-20261101").send().await.map(|r| format!("{:?}", r.image().and_then(|i| i.image_id()))).map_err(|e| aws_sdk_ecr::error::DisplayErrorContext(e).to_string()));
        let d = ecr.describe_images().repository_name("probe-api").image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_tag("v1.3.0-20261101").build()).send().await;
        println!("ecr describe tag: {:?}", d.map(|r| format!("{:?}", r.image_details())).map_err(|e| aws_sdk_ecr::error::DisplayErrorContext(e).to_string()));
        let d = ecr.describe_images().repository_name("probe-api").image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_tag("nope").build()).send().await;
        println!("ecr describe missing tag: {:?}", d.map(|r| format!("{:?}", r.image_details())).map_err(|e| aws_sdk_ecr::error::DisplayErrorContext(e).to_string()));
        let d = ecr.describe_images().repository_name("nope-repo").send().await;
        println!("ecr describe missing repo: {:?}", d.map(|r| format!("{:?}", r.image_details())).map_err(|e| aws_sdk_ecr::error::DisplayErrorContext(e).to_string()));

        let sm = aws_sdk_secretsmanager::Client::new(&cfg);
        println!("sm create: {:?}", sm.create_secret().name("probe/jwt").secret_string("x").send().await.map(|_| ()).map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()));
        let d = sm.describe_secret().secret_id("probe/jwt").send().await;
        println!("sm describe: {:?}", d.map(|r| format!("created={:?} rotated={:?} enabled={:?}", r.created_date(), r.last_rotated_date(), r.rotation_enabled())).map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()));
        println!("sm rotate: {:?}", sm.rotate_secret().secret_id("probe/jwt").send().await.map(|_| ()).map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()));
        let d = sm.describe_secret().secret_id("probe/jwt").send().await;
        println!("sm describe after rotate: {:?}", d.map(|r| format!("created={:?} rotated={:?} enabled={:?}", r.created_date(), r.last_rotated_date(), r.rotation_enabled())).map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()));
        let d = sm.describe_secret().secret_id("probe/none").send().await;
        println!("sm describe missing: {:?}", d.map(|_| ()).map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()));

        let rds = aws_sdk_rds::Client::new(&cfg);
        let c = rds.create_db_instance().db_instance_identifier("probe-db").db_instance_class("db.t3.micro").engine("postgres").master_username("u").master_user_password("Passw0rd!x").allocated_storage(20).backup_retention_period(3).send().await;
        println!("rds create: {:?}", c.map(|r| format!("{:?}", r.db_instance().map(|i| i.backup_retention_period()))).map_err(|e| aws_sdk_rds::error::DisplayErrorContext(e).to_string()));
        let d = rds.describe_db_instances().db_instance_identifier("probe-db").send().await;
        println!("rds describe: {:?}", d.map(|r| format!("{:?}", r.db_instances().iter().map(|i| (i.backup_retention_period(), i.db_instance_status(), i.latest_restorable_time())).collect::<Vec<_>>())).map_err(|e| aws_sdk_rds::error::DisplayErrorContext(e).to_string()));
        let d = rds.describe_db_instances().db_instance_identifier("nope-db").send().await;
        println!("rds describe missing: {:?}", d.map(|_| ()).map_err(|e| aws_sdk_rds::error::DisplayErrorContext(e).to_string()));

        let bk = aws_sdk_backup::Client::new(&cfg);
        let d = bk.list_restore_jobs().send().await;
        println!("backup list restore jobs: {:?}", d.map(|r| format!("{:?}", r.restore_jobs())).map_err(|e| aws_sdk_backup::error::DisplayErrorContext(e).to_string()));
        let d = bk.start_restore_job().recovery_point_arn("arn:aws:backup:us-east-1:000000000000:recovery-point:x").iam_role_arn("arn:aws:iam::000000000000:role/r").metadata("a","b").send().await;
        println!("backup start restore: {:?}", d.map(|r| format!("{:?}", r.restore_job_id())).map_err(|e| aws_sdk_backup::error::DisplayErrorContext(e).to_string()));
        let d = bk.list_restore_jobs().send().await;
        println!("backup list restore jobs again: {:?}", d.map(|r| format!("{:?}", r.restore_jobs())).map_err(|e| aws_sdk_backup::error::DisplayErrorContext(e).to_string()));

        let s3c = aws_sdk_s3::config::Builder::from(&cfg).force_path_style(true).build();
        let s3 = aws_sdk_s3::Client::from_conf(s3c);
        println!("s3 create: {:?}", s3.create_bucket().bucket("probe-files").send().await.map(|_| ()).map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string()));
        let d = s3.get_bucket_versioning().bucket("probe-files").send().await;
        println!("s3 versioning fresh: {:?}", d.map(|r| format!("{:?}", r.status())).map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string()));
        let d = s3.get_bucket_encryption().bucket("probe-files").send().await;
        println!("s3 encryption fresh: {:?}", d.map(|r| format!("{:?}", r.server_side_encryption_configuration())).map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string()));
        use aws_sdk_s3::types::*;
        let d = s3.put_bucket_versioning().bucket("probe-files").versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build()).send().await;
        println!("s3 put versioning: {:?}", d.map(|_| ()).map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string()));
        let rule = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::AwsKms).build().unwrap()).build();
        let d = s3.put_bucket_encryption().bucket("probe-files").server_side_encryption_configuration(ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap()).send().await;
        println!("s3 put encryption: {:?}", d.map(|_| ()).map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string()));
        let d = s3.get_bucket_versioning().bucket("probe-files").send().await;
        println!("s3 versioning: {:?}", d.map(|r| format!("{:?}", r.status())).map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string()));
        let d = s3.get_bucket_encryption().bucket("probe-files").send().await;
        println!("s3 encryption: {:?}", d.map(|r| format!("{:?}", r.server_side_encryption_configuration())).map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string()));
        let d = s3.get_bucket_versioning().bucket("nope-bucket").send().await;
        println!("s3 versioning missing: {:?}", d.map(|r| format!("{:?}", r.status())).map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string()));
    });
}
