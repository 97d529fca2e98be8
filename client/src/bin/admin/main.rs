//! `bolide-admin`: RocketMQ's `mqadmin` for Bolide.
//!
//! ```text
//! bolide-admin <command> [-n host:port;host:port] [options]
//! bolide-admin --help | <command> -h | --version
//! ```
//!
//! Commands and option letters are mqadmin's ([`cli::COMMANDS`]); `-n`
//! defaults to `$NAMESRV_ADDR`. Output is aligned text with mqadmin's
//! columns; errors go to stderr with exit code 1 (2 for a usage error).
//!
//! Modules by command family: [`topics`], [`cluster`] (brokers and their
//! configs), [`groups`] (subscription groups and consumer progress),
//! [`connections`] (client connections and offset resets), [`stats`]
//! (`statsAll`),
//! [`query`] (one message by id, key or offset), [`messages`] (sending
//! and reading messages).

mod cli;
mod cluster;
mod connections;
mod groups;
mod messages;
mod query;
mod stats;
mod topics;

use std::process::ExitCode;
use std::time::Duration;

use bolide_client::admin::{Admin, DEFAULT_TIMEOUT};
use bolide_client::error::ClientError;
use bolide_client::runtime::ClientRuntime;

use cli::Invocation;

/// Why a command failed.
#[derive(Debug)]
enum Failure {
    Usage(String),
    Client(ClientError),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

impl From<bolide_client::runtime::Canceled> for Failure {
    fn from(e: bolide_client::runtime::Canceled) -> Self {
        Failure::Client(e.into())
    }
}

fn main() -> ExitCode {
    // clap prints help and version (exit 0) and usage errors with a
    // suggestion (exit 2) itself.
    let matches = cli::command().get_matches();
    let invocation = match Invocation::from_matches(&matches) {
        Ok(i) => i,
        Err(e) => return usage_error(&e),
    };
    let command = invocation.command.clone();
    match execute(invocation) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(e)) => usage_error(&format!("{e}\n\nSee 'bolide-admin {command} -h'.")),
        Err(Failure::Client(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// Runs the command on a client runtime; returns what to print.
fn execute(invocation: Invocation) -> Result<String, Failure> {
    let rt = ClientRuntime::start("bolide-admin").map_err(|e| Failure::Usage(e.to_string()))?;
    let outcome = rt
        .call(move || async move {
            let admin = Admin::new(&invocation.namesrv, DEFAULT_TIMEOUT)?;
            let out = dispatch(&admin, &invocation).await;
            admin.close();
            out
        })
        .wait_timeout(Duration::from_secs(120));
    match outcome {
        Ok(result) => result,
        Err(bolide_client::runtime::WaitError::Canceled(c)) => Err(c.into()),
        Err(bolide_client::runtime::WaitError::Timeout) => {
            Err(Failure::Usage("timed out".to_owned()))
        }
    }
}

async fn dispatch(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    match inv.command.as_str() {
        "updateTopic" => topics::update_topic(admin, inv).await,
        "deleteTopic" => topics::delete_topic(admin, inv).await,
        "topicList" => Ok(topics::topic_list(admin).await?),
        "topicRoute" => topics::topic_route(admin, &inv.required('t', "TOPIC")?).await,
        "topicStatus" => topics::topic_status(admin, &inv.required('t', "TOPIC")?).await,
        "topicClusterList" => topics::topic_clusters(admin, &inv.required('t', "TOPIC")?).await,
        "clusterList" => Ok(cluster::cluster_list(admin).await?),
        "brokerStatus" => cluster::broker_status(admin, inv).await,
        "getBrokerConfig" => cluster::broker_config(admin, inv).await,
        "consumerProgress" => groups::consumer_progress(admin, inv).await,
        "updateSubGroup" => groups::update_sub_group(admin, inv).await,
        "deleteSubGroup" => groups::delete_sub_group(admin, inv).await,
        "consumerConnection" => connections::consumer_connection(admin, inv).await,
        "producerConnection" => connections::producer_connection(admin, inv).await,
        "resetOffsetByTime" => connections::reset_offset_by_time(admin, inv).await,
        "statsAll" => stats::stats_all(admin, inv).await,
        "sendMessage" => messages::send_message(inv).await,
        "consumeMessage" => messages::consume_message(admin, inv).await,
        "printMsg" => messages::print_msg(admin, inv).await,
        "queryMsgById" => query::by_id(admin, inv).await,
        "queryMsgByKey" => query::by_key(admin, inv).await,
        "queryMsgByUniqueKey" => query::by_unique_key(admin, inv).await,
        "queryMsgByOffset" => query::by_offset(admin, inv).await,
        other => Err(Failure::Usage(format!("unknown command {other:?}"))),
    }
}
