//! What a send attempt's answer means: its result, and whether to retry
//! or to hold the broker at fault.

use std::net::SocketAddr;

use bolide_proto::codes::response_code;
use bolide_proto::header::send::SendMessageResponseHeader;
use bolide_proto::ids::QueueOffset;
use bolide_proto::RemotingCommand;

use super::Outgoing;
use crate::error::ClientError;
use crate::message::{SendResult, SendStatus};
use crate::route::MessageQueue;

/// Turns a send response into a result or an error.
pub(super) fn send_result(
    addr: SocketAddr,
    out: &Outgoing,
    mq: &MessageQueue,
    response: RemotingCommand,
) -> Result<SendResult, ClientError> {
    let Some(status) = SendStatus::from_code(response.code) else {
        return Err(ClientError::Response {
            addr,
            code: response.code,
            remark: response.remark.unwrap_or_default(),
        });
    };
    let header: SendMessageResponseHeader = response.decode_header()?;
    let queue_id = u32::try_from(header.queue_id).unwrap_or(mq.queue_id.0);
    Ok(SendResult {
        status,
        msg_id: out.msg_id.clone(),
        offset_msg_id: header.msg_id,
        queue: MessageQueue::new(&out.topic, &mq.broker_name, queue_id),
        queue_offset: QueueOffset(u64::try_from(header.queue_offset).unwrap_or(0)),
    })
}

/// Whether a failed attempt may be retried on another broker.
pub(super) fn is_retriable(e: &ClientError) -> bool {
    use response_code as rc;
    match e {
        ClientError::Transport { .. } => true,
        ClientError::Response { code, .. } => matches!(
            *code,
            rc::SYSTEM_ERROR
                | rc::SYSTEM_BUSY
                | rc::NO_PERMISSION
                | rc::TOPIC_NOT_EXIST
                | rc::SERVICE_NOT_AVAILABLE
                | rc::NOT_IN_CURRENT_UNIT
        ),
        _ => false,
    }
}

/// Whether a failure says something about the broker's health (and so
/// should isolate it), as opposed to about the message.
pub(super) fn is_broker_fault(e: &ClientError) -> bool {
    matches!(e, ClientError::Transport { .. })
        || matches!(e, ClientError::Response { code, .. }
            if *code == response_code::SYSTEM_BUSY || *code == response_code::SERVICE_NOT_AVAILABLE)
}
