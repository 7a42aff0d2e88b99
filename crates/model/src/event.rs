//! The run as a stream of events, in the order they happen: the runner emits them
//! as it goes, and every live output (the per-step line printer, the progress line)
//! consumes them as they arrive, so a CI log grows step by step and a run killed at
//! any moment has logged everything up to that moment. The file reporters read the
//! [`RunReport`] that [`Event::RunFinished`] carries (JUnit, JSON, Markdown and HTML
//! describe a whole run). The model is cargo-nextest's reporter: events in, many
//! outputs.
//!
//! The channel is `std::sync::mpsc`, so a consumer may be a plain thread and the
//! emitter never blocks; a sink whose receiver is gone drops events silently (a
//! closed log must not stop the checks).

use std::sync::mpsc::{Receiver, Sender, channel};

use crate::outcome::{CleanupRecord, RunReport, StepResult};

/// One thing that happened in a run.
#[derive(Clone, Debug)]
pub enum Event {
    /// The target is ready and the flows are about to start.
    RunStarted {
        /// The run id (every request carries it).
        run_id: String,
        /// Target label.
        target: String,
        /// Profile name.
        profile: String,
        /// How many flows will run.
        flows: usize,
    },
    /// A flow started.
    FlowStarted {
        /// Its id.
        flow: String,
    },
    /// A step ended: passed, failed, errored, or skipped with the reason.
    StepFinished(Box<StepResult>),
    /// A cleanup guard ran.
    CleanupDone(CleanupRecord),
    /// A flow ended (its cleanups included).
    FlowFinished {
        /// Its id.
        flow: String,
    },
    /// The run ended; the whole report.
    RunFinished(Box<RunReport>),
}

/// Where a run sends its events; cheap to clone into every flow.
#[derive(Clone, Debug, Default)]
pub struct EventSink(Option<Sender<Event>>);

impl EventSink {
    /// A sink and the receiver its events arrive on.
    pub fn channel() -> (EventSink, Receiver<Event>) {
        let (tx, rx) = channel();
        (EventSink(Some(tx)), rx)
    }

    /// A sink that drops every event (library callers that only want the report).
    pub fn none() -> EventSink {
        EventSink(None)
    }

    /// Send `event`; a receiver that is gone is not an error.
    pub fn emit(&self, event: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_arrive_in_order_and_a_dropped_receiver_is_harmless() {
        let (sink, rx) = EventSink::channel();
        sink.emit(Event::FlowStarted {
            flow: "auth".into(),
        });
        sink.emit(Event::FlowFinished {
            flow: "auth".into(),
        });
        let got: Vec<String> = rx.try_iter().map(|e| format!("{e:?}")).collect();
        assert_eq!(
            got,
            vec![
                r#"FlowStarted { flow: "auth" }"#.to_owned(),
                r#"FlowFinished { flow: "auth" }"#.to_owned()
            ]
        );
        drop(rx);
        sink.emit(Event::FlowStarted { flow: "x".into() });
        EventSink::none().emit(Event::FlowStarted { flow: "y".into() });
    }
}
