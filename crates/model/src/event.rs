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
use std::sync::{Arc, Mutex};

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
pub struct EventSink {
    tx: Option<Sender<Event>>,
    /// While `Some`, events wait here instead of going out (see [`EventSink::held`]).
    hold: Option<Arc<Mutex<Option<Vec<Event>>>>>,
}

impl EventSink {
    /// A sink and the receiver its events arrive on.
    pub fn channel() -> (EventSink, Receiver<Event>) {
        let (tx, rx) = channel();
        (
            EventSink {
                tx: Some(tx),
                hold: None,
            },
            rx,
        )
    }

    /// A sink that drops every event (library callers that only want the report).
    pub fn none() -> EventSink {
        EventSink::default()
    }

    /// A sink whose events are held back until the handle releases them (in
    /// order) or discards them: the run's flows start while the preflight request
    /// is still out, and a run that turns out not to be able to start prints its
    /// cause once instead of one line per step.
    pub fn held(&self) -> (EventSink, EventHold) {
        let hold = Arc::new(Mutex::new(Some(Vec::new())));
        (
            EventSink {
                tx: self.tx.clone(),
                hold: Some(hold.clone()),
            },
            EventHold {
                tx: self.tx.clone(),
                hold,
            },
        )
    }

    /// Send `event`; a receiver that is gone is not an error.
    pub fn emit(&self, event: Event) {
        if let Some(hold) = &self.hold {
            let mut held = hold.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(queue) = held.as_mut() {
                queue.push(event);
                return;
            }
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(event);
        }
    }
}

/// The handle of a held sink (see [`EventSink::held`]).
#[derive(Debug)]
pub struct EventHold {
    tx: Option<Sender<Event>>,
    hold: Arc<Mutex<Option<Vec<Event>>>>,
}

impl EventHold {
    /// Send what was held, in order; from now on events go out at once.
    pub fn release(self) {
        let mut held = self.hold.lock().unwrap_or_else(|e| e.into_inner());
        for event in held.take().unwrap_or_default() {
            if let Some(tx) = &self.tx {
                let _ = tx.send(event);
            }
        }
    }

    /// Drop what was held and whatever comes later.
    pub fn discard(self) {
        let mut held = self.hold.lock().unwrap_or_else(|e| e.into_inner());
        *held = Some(Vec::new());
        drop(held);
        // Later events land in a queue nobody releases.
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

    #[test]
    fn held_events_go_out_in_order_on_release_and_never_on_discard() {
        let (sink, rx) = EventSink::channel();
        let (held, hold) = sink.held();
        held.emit(Event::FlowStarted { flow: "a".into() });
        sink.emit(Event::FlowStarted {
            flow: "direct".into(),
        });
        held.emit(Event::FlowFinished { flow: "a".into() });
        let names = |rx: &Receiver<Event>| -> Vec<String> {
            rx.try_iter().map(|e| format!("{e:?}")).collect()
        };
        assert_eq!(names(&rx), vec![r#"FlowStarted { flow: "direct" }"#]);
        hold.release();
        held.emit(Event::FlowStarted { flow: "b".into() });
        assert_eq!(
            names(&rx),
            vec![
                r#"FlowStarted { flow: "a" }"#,
                r#"FlowFinished { flow: "a" }"#,
                r#"FlowStarted { flow: "b" }"#
            ]
        );
        let (held, hold) = sink.held();
        held.emit(Event::FlowStarted { flow: "c".into() });
        hold.discard();
        held.emit(Event::FlowStarted { flow: "d".into() });
        assert!(names(&rx).is_empty());
    }
}
