//! The system-call boundary of the userspace data plane: TUN, eventfd,
//! poll, batched UDP I/O, raw ESP sockets. All `unsafe` of the crate is here.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_MULTI_QUEUE: libc::c_short = 0x0100;
const IFF_VNET_HDR: libc::c_short = 0x4000;
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const TUN_F_CSUM: libc::c_uint = 0x01;
const TUN_F_TSO4: libc::c_uint = 0x02;
const TUN_F_TSO6: libc::c_uint = 0x04;
const TUN_F_TSO_ECN: libc::c_uint = 0x08;
const IFNAMSIZ: usize = 16;

/// `struct ifreq` as TUNSETIFF reads it: the name and the flags member of the union.
#[repr(C)]
struct IfReqFlags {
    name: [u8; IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A TUN queue: a non-blocking file descriptor carrying IP packets without a
/// packet-information header.
#[derive(Debug)]
pub struct Tun {
    fd: OwnedFd,
    name: String,
    vnet_hdr: bool,
}

impl Tun {
    /// Opens (creating if needed) the TUN device `name` in the calling
    /// thread's network namespace. With `offload`, packets carry a
    /// virtio-net header and the kernel may hand over TCP super-packets
    /// (TSO) and packets whose checksum is left to complete.
    pub fn open(name: &str, multi_queue: bool, offload: bool) -> io::Result<Tun> {
        if name.len() >= IFNAMSIZ || name.is_empty() || name.contains('/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TUN name must be 1-15 bytes",
            ));
        }
        // SAFETY: the path is a NUL-terminated C string literal; open has no other preconditions.
        let raw = cvt(unsafe {
            libc::open(
                c"/dev/net/tun".as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        })?;
        // SAFETY: `raw` was just returned by open and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut req = IfReqFlags {
            name: [0; IFNAMSIZ],
            flags: IFF_TUN
                | IFF_NO_PI
                | if multi_queue { IFF_MULTI_QUEUE } else { 0 }
                | if offload { IFF_VNET_HDR } else { 0 },
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads and writes a `struct ifreq` (40 bytes); `req` is a
        // live, properly sized and aligned repr(C) value for the call's duration.
        cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReqFlags) })?;
        let len = req.name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        let name = String::from_utf8_lossy(&req.name[..len]).into_owned();
        if offload {
            let features = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
            // SAFETY: TUNSETOFFLOAD takes the feature bits as an integer argument.
            cvt(unsafe {
                libc::ioctl(
                    fd.as_raw_fd(),
                    TUNSETOFFLOAD as _,
                    features as libc::c_ulong,
                )
            })?;
        }
        Ok(Tun {
            fd,
            name,
            vnet_hdr: offload,
        })
    }

    /// Whether packets carry a virtio-net header.
    pub fn vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    /// The interface name the kernel gave.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads one packet; `Ok(None)` when none is waiting.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        read_fd(self.fd(), buf)
    }

    /// Writes one packet; `Ok(false)` when the queue is full (packet dropped).
    pub fn write(&self, packet: &[u8]) -> io::Result<bool> {
        // SAFETY: `packet` is a valid readable slice for its length; the fd is open.
        let r = unsafe { libc::write(self.fd(), packet.as_ptr().cast(), packet.len()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(true)
    }
}

fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is a valid writable slice for its length; the fd is open.
    let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            return Ok(None);
        }
        return Err(e);
    }
    Ok(Some(r as usize))
}

/// An eventfd used to wake the worker.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    /// A non-blocking eventfd.
    pub fn new() -> io::Result<Self> {
        // SAFETY: eventfd has no pointer arguments.
        let raw = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `raw` was just returned by eventfd and is owned by nobody else.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(raw) }))
    }

    /// Makes the fd readable.
    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64; a full counter (EAGAIN) still leaves it readable.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the fd to not readable.
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }

    /// The file descriptor.
    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Most descriptors [`poll_readable`] watches (the eventfd, TUN, raw ESP
/// and the ESP-in-UDP sockets).
pub const MAX_POLL_FDS: usize = 256;

/// Waits until one of `fds` is readable or `timeout_ms` passed; fills `ready`.
pub fn poll_readable(fds: &[RawFd], ready: &mut [bool], timeout_ms: i32) -> io::Result<()> {
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; MAX_POLL_FDS];
    let n = fds.len().min(pfds.len());
    for (p, &fd) in pfds.iter_mut().zip(fds) {
        p.fd = fd;
        p.events = libc::POLLIN;
    }
    // SAFETY: `pfds` is a live array of at least `n` pollfd structs.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            ready.iter_mut().for_each(|r| *r = false);
            return Ok(());
        }
        return Err(e);
    }
    for (r, p) in ready.iter_mut().zip(pfds.iter().take(n)) {
        *r = p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0;
    }
    Ok(())
}

/// Marks the packets a socket sends (SO_MARK, needs CAP_NET_ADMIN).
pub fn set_mark(fd: RawFd, mark: u32) -> io::Result<()> {
    // SAFETY: passes a pointer to a live u32 and its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_MARK,
            (&mark as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Waits until `fd` can be written or `timeout_ms` passed.
fn wait_writable(fd: RawFd, timeout_ms: i32) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: `p` is one live pollfd.
    unsafe { libc::poll(&mut p, 1, timeout_ms) };
}

/// Sets SO_RCVBUFFORCE / SO_SNDBUFFORCE (root), falling back to the unforced options.
pub fn set_socket_buffers(fd: RawFd, bytes: usize) {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    for (forced, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        // SAFETY: passes a pointer to a live c_int and its size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                forced,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r < 0 {
            // SAFETY: as above.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    plain,
                    (&v as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        }
    }
}

/// Encodes a socket address into `storage`; returns its length.
pub fn encode_sockaddr(addr: &SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Decodes a socket address the kernel filled in.
pub fn decode_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in; storage is aligned for it.
            let sin: &libc::sockaddr_in =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6; storage is aligned for it.
            let sin6: &libc::sockaddr_in6 =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Pre-allocated headers for batched `sendmmsg`/`recvmmsg`. Owned by one
/// thread; the pointers inside are set for each call and used only during it.
pub struct MmsgBatch {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_storage>,
    cmsgs: Vec<GsoCmsg>,
    failed: Vec<bool>,
}

/// A control message carrying UDP_SEGMENT (the GSO segment size); its
/// layout is CMSG_SPACE(2) on 64-bit Linux: header, u16, padding.
#[repr(C)]
#[derive(Clone, Copy)]
struct GsoCmsg {
    hdr: libc::cmsghdr,
    data: [u8; 8],
}

const SOL_UDP: libc::c_int = 17;
const UDP_SEGMENT: libc::c_int = 103;
const UDP_GRO: libc::c_int = 104;

/// Asks the kernel to hand over coalesced UDP datagrams (UDP_GRO); see
/// [`MmsgBatch::received`] for the segment size.
pub fn enable_udp_gro(fd: RawFd) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: passes a pointer to a live c_int and its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            SOL_UDP,
            UDP_GRO,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

impl MmsgBatch {
    /// Headers for up to `n` messages.
    pub fn new(n: usize) -> Self {
        // SAFETY: all-zero bytes are a valid value of these plain C structs.
        let zero_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let zero_addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        MmsgBatch {
            hdrs: vec![zero_hdr; n],
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                n
            ],
            addrs: vec![zero_addr; n],
            cmsgs: vec![
                GsoCmsg {
                    hdr: {
                        // SAFETY: all-zero bytes are a valid cmsghdr.
                        let mut h: libc::cmsghdr = unsafe { std::mem::zeroed() };
                        h.cmsg_len = std::mem::size_of::<libc::cmsghdr>() + 2;
                        h.cmsg_level = SOL_UDP;
                        h.cmsg_type = UDP_SEGMENT;
                        h
                    },
                    data: [0; 8],
                };
                n
            ],
            failed: vec![false; n],
        }
    }

    /// Points iovec `i` at `data`. `data` must stay unchanged and alive
    /// until the next [`MmsgBatch::send`] returns.
    pub fn set_iov(&mut self, i: usize, data: &[u8]) {
        if let Some(iov) = self.iovs.get_mut(i) {
            *iov = libc::iovec {
                iov_base: data.as_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            };
        }
    }

    /// Prepares message `m` to carry iovecs `first..first + count` to `to`.
    /// With `count > 1` it is one UDP GSO send: every iovec but the last
    /// must be exactly `gso_size` bytes, and the kernel sends each as its
    /// own datagram.
    pub fn prepare_gso(
        &mut self,
        m: usize,
        first: usize,
        count: usize,
        to: &SocketAddr,
        gso_size: u16,
    ) {
        if m >= self.hdrs.len() || first + count > self.iovs.len() || count == 0 {
            return;
        }
        let len = encode_sockaddr(to, &mut self.addrs[m]);
        self.cmsgs[m].hdr.cmsg_len = std::mem::size_of::<libc::cmsghdr>() + 2;
        self.cmsgs[m].hdr.cmsg_level = SOL_UDP;
        self.cmsgs[m].hdr.cmsg_type = UDP_SEGMENT;
        self.cmsgs[m].data[..2].copy_from_slice(&gso_size.to_ne_bytes());
        let h = &mut self.hdrs[m].msg_hdr;
        h.msg_name = (&mut self.addrs[m] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = len;
        h.msg_iov = &mut self.iovs[first];
        h.msg_iovlen = count as _;
        if count > 1 {
            h.msg_control = (&mut self.cmsgs[m] as *mut GsoCmsg).cast();
            h.msg_controllen = std::mem::size_of::<GsoCmsg>() as _;
        } else {
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
        }
        h.msg_flags = 0;
    }

    /// Whether message `m` failed in the last [`MmsgBatch::send`].
    pub fn failed(&self, m: usize) -> bool {
        self.failed.get(m).copied().unwrap_or(true)
    }

    /// Sends the first `n` prepared messages with as few `sendmmsg` calls as
    /// possible. Returns how many were sent and the last error, if any.
    pub fn send(&mut self, fd: RawFd, n: usize) -> (usize, Option<io::Error>) {
        let n = n.min(self.hdrs.len());
        self.failed.iter_mut().for_each(|f| *f = false);
        let mut done = 0;
        let mut sent = 0;
        let mut last_err = None;
        let mut waits = 0;
        while done < n {
            // SAFETY: hdrs[done..n] were prepared by prepare_gso / set_iov callers
            // with pointers to live iovecs, addresses and packet buffers.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs.as_mut_ptr().add(done),
                    (n - done) as libc::c_uint,
                    0,
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // Socket buffer full: wait (bounded) for room rather than drop.
                if e.kind() == io::ErrorKind::WouldBlock && waits < 10 {
                    waits += 1;
                    wait_writable(fd, 50);
                    continue;
                }
                // Skip the message that failed (e.g. no route) and go on.
                self.failed[done] = true;
                done += 1;
                last_err = Some(e);
                continue;
            }
            done += r as usize;
            sent += r as usize;
        }
        (sent, last_err)
    }

    /// Points message `i` at `buf` for the next [`MmsgBatch::recv`].
    /// `buf` must stay alive and unborrowed until that call returns.
    pub fn prepare_recv(&mut self, i: usize, buf: &mut [u8]) {
        if i >= self.hdrs.len() {
            return;
        }
        self.iovs[i] = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let h = &mut self.hdrs[i].msg_hdr;
        h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_iov = &mut self.iovs[i];
        h.msg_iovlen = 1;
        h.msg_control = (&mut self.cmsgs[i] as *mut GsoCmsg).cast();
        h.msg_controllen = std::mem::size_of::<GsoCmsg>() as _;
        h.msg_flags = 0;
        self.hdrs[i].msg_len = 0;
    }

    /// Receives up to `n` datagrams into the prepared buffers without
    /// blocking. Returns how many arrived; see [`MmsgBatch::received`].
    pub fn recv(&mut self, fd: RawFd, n: usize) -> io::Result<usize> {
        let n = n.min(self.hdrs.len());
        // SAFETY: hdrs[..n] were prepared by prepare_recv with pointers to live
        // iovecs over the caller's buffers and to our address storage.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(r as usize)
    }

    /// Length (0 if truncated), sender and, for coalesced datagrams
    /// (UDP_GRO), the size of each datagram of received message `i`.
    pub fn received(&self, i: usize) -> (usize, Option<SocketAddr>, Option<usize>) {
        match (self.hdrs.get(i), self.addrs.get(i), self.cmsgs.get(i)) {
            (Some(h), Some(a), Some(c)) => {
                let len = if h.msg_hdr.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
                    0
                } else {
                    h.msg_len as usize
                };
                let gro = (h.msg_hdr.msg_controllen >= std::mem::size_of::<libc::cmsghdr>() + 4
                    && c.hdr.cmsg_level == SOL_UDP
                    && c.hdr.cmsg_type == UDP_GRO)
                    .then(|| i32::from_ne_bytes([c.data[0], c.data[1], c.data[2], c.data[3]]))
                    .and_then(|g| usize::try_from(g).ok())
                    .filter(|g| *g > 0);
                (len, decode_sockaddr(a), gro)
            }
            _ => (0, None, None),
        }
    }
}

/// A raw IPv4 socket for IP protocol 50 (ESP), non-blocking.
#[derive(Debug)]
pub struct RawEspSocket(OwnedFd);

impl RawEspSocket {
    /// Opens the socket in the calling thread's network namespace (needs CAP_NET_RAW).
    pub fn open_v4() -> io::Result<Self> {
        open_raw(libc::AF_INET, libc::IPPROTO_ESP).map(RawEspSocket)
    }

    /// The file descriptor.
    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Sends one ESP packet to `to` (the kernel adds the IPv4 header).
    pub fn send(&self, esp: &[u8], to: IpAddr) -> io::Result<()> {
        send_raw(self.fd(), esp, to)
    }

    /// Receives one packet (IPv4 header included); `Ok(None)` when none waits.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        read_fd(self.fd(), buf)
    }
}

/// A raw socket that sends whole IP packets (`IPPROTO_RAW`, the header
/// included), IPv4 or IPv6, non-blocking; it receives nothing.
#[derive(Debug)]
pub struct RawIpSocket(OwnedFd);

impl RawIpSocket {
    /// Opens the socket for IPv4 or IPv6 in the calling thread's network
    /// namespace (needs CAP_NET_RAW).
    pub fn open(v6: bool) -> io::Result<Self> {
        let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        open_raw(family, libc::IPPROTO_RAW).map(RawIpSocket)
    }

    /// The file descriptor.
    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Sends one IP packet (its own header first) towards `to`.
    pub fn send(&self, packet: &[u8], to: IpAddr) -> io::Result<()> {
        send_raw(self.fd(), packet, to)
    }
}

/// Opens a non-blocking raw socket of `family` for `protocol` in the
/// calling thread's network namespace (needs CAP_NET_RAW).
fn open_raw(family: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket has no pointer arguments.
    let raw = cvt(unsafe {
        libc::socket(
            family,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol,
        )
    })?;
    // SAFETY: `raw` was just returned by socket and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Sends `bytes` on the raw socket `fd` towards `to` (port 0).
fn send_raw(fd: RawFd, bytes: &[u8], to: IpAddr) -> io::Result<()> {
    let mut storage: libc::sockaddr_storage = {
        // SAFETY: all-zero bytes are a valid sockaddr_storage.
        unsafe { std::mem::zeroed() }
    };
    let len = encode_sockaddr(&SocketAddr::new(to, 0), &mut storage);
    // SAFETY: `bytes` is a valid slice; storage holds a valid address of `len` bytes.
    let r = unsafe {
        libc::sendto(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
            (&storage as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Random bytes from the kernel.
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: writes at most `buf.len() - filled` bytes into the live slice.
        let r =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += r as usize;
    }
    Ok(())
}

/// Moves the calling thread into the network namespace at `path`
/// (e.g. `/run/netns/NAME`). Threads it spawns afterwards start there too.
pub fn enter_netns(path: &std::path::Path) -> io::Result<()> {
    let file = std::fs::File::open(path)?;
    // SAFETY: setns takes an open namespace fd (kept alive by `file`) and a
    // namespace type; it affects only the calling thread.
    cvt(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}
