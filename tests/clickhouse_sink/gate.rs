//! A TCP proxy in front of ClickHouse that can, at any moment, refuse every
//! request or cut only INSERTs (probes and checks still pass): a server that
//! goes away, or half away, in the middle of a drain.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Pass = 0,
    /// Every request's connection is closed before it reaches the server.
    Refuse = 1,
    /// Requests carrying an INSERT are closed before they reach the server.
    CutInserts = 2,
}

pub struct Gate {
    pub port: u16,
    mode: Arc<AtomicU8>,
}

impl Gate {
    pub fn start(upstream: u16) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let m = mode.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let m = m.clone();
                std::thread::spawn(move || relay(client, upstream, m));
            }
        });
        Gate { port, mode }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

fn relay(mut client: TcpStream, upstream: u16, mode: Arc<AtomicU8>) {
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let (mut from_server, mut to_client) =
        (server.try_clone().unwrap(), client.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        while let Ok(n @ 1..) = from_server.read(&mut buf) {
            if to_client.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to_client.shutdown(std::net::Shutdown::Both);
    });
    // Decided per read, so a kept-alive connection obeys the current mode.
    let mut buf = vec![0; 64 * 1024];
    while let Ok(n @ 1..) = client.read(&mut buf) {
        let m = mode.load(Ordering::SeqCst);
        let insert = buf[..n].windows(6).any(|w| w == b"INSERT");
        if m == Mode::Refuse as u8 || (m == Mode::CutInserts as u8 && insert) {
            break;
        }
        if server.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = server.shutdown(std::net::Shutdown::Both);
}
