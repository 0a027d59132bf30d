//! A TCP proxy that loses the reply to an INSERT that did land: the
//! ambiguous failure exactly-once delivery has to survive.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Forwards TCP to ClickHouse; when armed, lets the next INSERT reach the
/// server and then cuts the connection instead of relaying its reply.
pub struct LostReplyProxy {
    pub port: u16,
    pub armed: Arc<AtomicBool>,
    pub cut: Arc<AtomicUsize>,
}

impl LostReplyProxy {
    pub fn start(upstream: u16) -> LostReplyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (armed, cut) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (a, c) = (armed.clone(), cut.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (a, c) = (a.clone(), c.clone());
                std::thread::spawn(move || relay(client, upstream, a, c));
            }
        });
        LostReplyProxy { port, armed, cut }
    }
}

fn relay(mut client: TcpStream, upstream: u16, armed: Arc<AtomicBool>, cut: Arc<AtomicUsize>) {
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let cut_next_reply = Arc::new(AtomicBool::new(false));
    let (mut from_client, mut to_server) =
        (client.try_clone().unwrap(), server.try_clone().unwrap());
    let flag = cut_next_reply.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        while let Ok(n @ 1..) = from_client.read(&mut buf) {
            if buf[..n].windows(6).any(|w| w == b"INSERT") && armed.swap(false, Ordering::SeqCst) {
                flag.store(true, Ordering::SeqCst);
            }
            if to_server.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to_server.shutdown(std::net::Shutdown::Write);
    });
    let mut buf = vec![0; 64 * 1024];
    while let Ok(n @ 1..) = server.read(&mut buf) {
        if cut_next_reply.load(Ordering::SeqCst) {
            cut.fetch_add(1, Ordering::SeqCst);
            break;
        }
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = server.shutdown(std::net::Shutdown::Both);
}
