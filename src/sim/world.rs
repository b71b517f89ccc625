//! The simulated world: accounts with one to three installations ("devices"), each with its
//! own in-memory store that survives restarts, all on one in-memory node; the loops a
//! browser runs per device (the app sending, the processors, the inbox follower) as tasks of
//! the seeded executor.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use super::executor::{Clock, Executor, Rng, pause};
use crate::{
    crypto::{Address, PickleKey, sign_for_tests},
    engine::{OWN_INSTALLATION, OwnInstallationRecord},
    error::{ErrorCode, SdkError},
    net::{
        Follow, NetError, Node,
        memory::{MemoryNode, NodeFaults},
    },
    steps::{
        Faults, Local, Pull,
        identity::{self, WalletSigner},
        processor, queue,
    },
    store::{Changes, Store, memory::MemoryStore},
    wire::Topic,
};

/// A wallet whose key the simulator holds.
pub(crate) struct Wallet {
    key: [u8; 32],
    pub(crate) address: Address,
}

impl Wallet {
    pub(super) fn new(rng: &mut Rng) -> Self {
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        // A valid secp256k1 key: below the group order (the top byte small is enough).
        key[0] = 0x11;
        let address =
            sign_for_tests(&key, b"who").recover(b"who").unwrap_or(Address::from_bytes([0; 20]));
        Self { key, address }
    }
}

impl WalletSigner for Wallet {
    async fn address(&self) -> Result<String, SdkError> {
        Ok(self.address.to_string())
    }
    async fn sign(&self, text: &str) -> Result<String, SdkError> {
        Ok(sign_for_tests(&self.key, text.as_bytes()).to_hex())
    }
}

/// A message whose `send` resolved: what the user was promised.
#[derive(Debug, Clone)]
pub(crate) struct Promise {
    pub(crate) id: String,
    pub(crate) peer: usize,
    pub(crate) sent_at_ms: u64,
    pub(crate) content: Vec<u8>,
}

/// One installation: what survives a restart (its store, its key) and what does not.
pub(crate) struct Device {
    pub(crate) account: usize,
    pub(crate) id: String,
    pub(crate) store: MemoryStore,
    pickle_key: [u8; 32],
    /// Its clock's offset from the world's (clocks jump).
    pub(crate) offset: Rc<Cell<i64>>,
    /// Promised messages, in the order `send` was called.
    pub(crate) promised: Rc<RefCell<Vec<Promise>>>,
    /// Payload corruptions injected into its sends.
    pub(crate) corruptions: Cell<u32>,
    /// Its running instances ("tabs"); empty while it is down.
    pub(crate) live: RefCell<Vec<Rc<Local>>>,
    /// Added during the storm: it sends, and what it sends is owed to everyone, but it is
    /// owed nothing itself (a sender may not have refreshed its installation list since:
    /// THRESHOLD, and clocks that jump back, delay that by a bounded but long time).
    pub(crate) joined_late: bool,
    /// Revoked by its wallet during the storm: it is owed nothing, and what it sent may be
    /// refused once the others learn it.
    pub(crate) revoked: Cell<bool>,
}

/// Everything of one seed.
pub(crate) struct World {
    pub(crate) rng: Rng,
    pub(crate) clock: Clock,
    pub(crate) node: MemoryNode,
    pub(crate) wallets: Vec<Rc<Wallet>>,
    pub(crate) devices: Vec<Rc<Device>>,
    pub(crate) executor: Executor,
    /// Sends still to make in the storm.
    pub(crate) budget: Rc<Cell<u32>>,
    /// Whether the app loops still send (off while settling).
    pub(crate) sending: Rc<Cell<bool>>,
    /// How often a save fails (as a browser may abort a transaction), per save.
    pub(crate) save_fault_rate: Rc<Cell<f64>>,
    /// What the hostile wallet did.
    pub(crate) hostile: super::hostile_payloads::Hostile,
}

/// The world's start time: any fixed date.
const EPOCH_MS: u64 = 1_760_000_000_000;

impl World {
    /// `accounts` accounts with `devices[i]` installations each, created and published.
    pub(crate) fn new(
        seed: u64,
        devices_per_account: &[usize],
        budget: u32,
    ) -> Result<Self, SdkError> {
        let mut rng = Rng::new(seed);
        let clock = Clock::default();
        clock.set(EPOCH_MS);
        let node = MemoryNode::new();
        let mut wallets = Vec::new();
        let mut devices = Vec::new();
        for (account, count) in devices_per_account.iter().enumerate() {
            let wallet = Rc::new(Wallet::new(&mut rng));
            for _ in 0..*count {
                devices.push(Rc::new(create_device(
                    &mut rng,
                    &node,
                    &wallet,
                    account,
                    clock.now(),
                )?));
            }
            wallets.push(wallet);
        }
        let save_fault_rate = Rc::new(Cell::new(0.0));
        for device in &devices {
            let (rate, rng) = (save_fault_rate.clone(), RefCell::new(Rng::new(rng.next_u64())));
            device.store.set_save_fault(move || rng.borrow_mut().chance(rate.get()));
        }
        Ok(Self {
            save_fault_rate,
            rng,
            clock,
            node,
            wallets,
            devices,
            executor: Executor::default(),
            budget: Rc::new(Cell::new(budget)),
            sending: Rc::new(Cell::new(true)),
            hostile: Default::default(),
        })
    }

    /// Starts device `d` (its memory loaded from its store): its processors, inbox follower
    /// and app loop; with `second_tab`, a second instance whose processors run at the same
    /// time on the same store (as if the Web Lock failed).
    pub(crate) fn boot(&mut self, d: usize, second_tab: bool) {
        let device = self.devices[d].clone();
        let wallet = self.wallets[device.account].clone();
        let instances = if second_tab { 2 } else { 1 };
        for instance in 0..instances {
            let Ok(local) = super::executor::block_on(load(&device, &wallet)) else { continue };
            let local = Rc::new(local);
            device.live.borrow_mut().push(local.clone());
            let spawner = self.executor.spawner();
            let seed = self.rng.next_u64();
            spawner.spawn(d, processors(self.ctx(&device), local.clone(), Rng::new(seed)));
            if instance == 0 {
                spawner.spawn(d, follower(self.ctx(&device), local.clone()));
                let seed = self.rng.next_u64();
                let others: Vec<usize> =
                    (0..self.wallets.len()).filter(|a| *a != device.account).collect();
                let app = App {
                    ctx: self.ctx(&device),
                    device: device.clone(),
                    wallets: self.wallets.clone(),
                    peers: others,
                    budget: self.budget.clone(),
                    sending: self.sending.clone(),
                };
                spawner.spawn(d, app.run(Rng::new(seed)));
            }
        }
    }

    /// Stops device `d` at once: its tasks are dropped wherever they are, its memory lost.
    pub(crate) fn crash(&mut self, d: usize) {
        self.executor.kill(d);
        self.devices[d].live.borrow_mut().clear();
    }

    pub(crate) fn is_up(&self, d: usize) -> bool {
        !self.devices[d].live.borrow().is_empty()
    }

    fn ctx(&self, device: &Rc<Device>) -> TaskCtx {
        TaskCtx {
            store: device.store.clone(),
            node: self.node.clone(),
            clock: self.clock.clone(),
            offset: device.offset.clone(),
            id: device.id.clone(),
        }
    }

    /// Turns node faults on (at random rates) or off.
    pub(crate) fn set_faults(&mut self, on: bool) {
        let faults = if on {
            let rate = |rng: &mut Rng, max: u64| rng.below(max + 1) as f64 / 100.0;
            NodeFaults {
                seed: self.rng.next_u64(),
                publish_fail_rate: rate(&mut self.rng, 30),
                drop_ack_rate: rate(&mut self.rng, 20),
                refuse_rate: 0.0,
                query_fail_rate: rate(&mut self.rng, 20),
                duplicate_rate: rate(&mut self.rng, 20),
                reorder_rate: rate(&mut self.rng, 30),
                cut_rate: rate(&mut self.rng, 10),
                latency_yields: self.rng.below(6) as u32,
            }
        } else {
            NodeFaults::default()
        };
        self.node.set_faults(faults);
    }

    /// A new installation of a random account, created and published now, and started;
    /// `false` if the node refused its bundle (faults).
    pub(crate) fn add_device(&mut self) -> bool {
        let account = self.rng.below(self.wallets.len() as u64) as usize;
        let wallet = self.wallets[account].clone();
        let now = self.clock.now();
        let Ok(device) = create_device(&mut self.rng, &self.node, &wallet, account, now) else {
            return false;
        };
        let (rate, rng) =
            (self.save_fault_rate.clone(), RefCell::new(Rng::new(self.rng.next_u64())));
        device.store.set_save_fault(move || rng.borrow_mut().chance(rate.get()));
        self.devices.push(Rc::new(Device { joined_late: true, ..device }));
        self.boot(self.devices.len() - 1, false);
        true
    }

    /// Its wallet revokes device `d` (published now); `false` if the node refused it, or
    /// if `d` is its account's last installation left.
    pub(crate) fn revoke(&mut self, d: usize) -> bool {
        let device = self.devices[d].clone();
        let others = self
            .devices
            .iter()
            .enumerate()
            .filter(|(i, o)| *i != d && o.account == device.account && !o.revoked.get());
        if device.revoked.get() || others.count() == 0 {
            return false;
        }
        let wallet = self.wallets[device.account].clone();
        let (address, now) = (wallet.address, self.clock.now());
        let topic = Topic::contact(&address.to_string()).to_string();
        let before = self.node.envelopes(&topic).len();
        let _ = super::executor::block_on(identity::revoke(
            &self.node, &*wallet, &address, &device.id, now,
        ));
        // An error may still have stored it (a dropped acknowledgement): the node says.
        let revoked = self.node.envelopes(&topic).len() > before;
        device.revoked.set(revoked);
        revoked
    }

    /// Runs `ticks` ticks of the executor, the clock moving as while settling.
    #[cfg(test)]
    pub(crate) fn run_for(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.clock.advance(self.rng.below(40));
            self.executor.tick(&mut self.rng);
        }
    }

    /// Injects a flipped ciphertext byte into device `d`'s next payload.
    pub(crate) fn corrupt(&mut self, d: usize) {
        let device = &self.devices[d];
        if let Some(local) = device.live.borrow().first() {
            if !local.faults.corrupt_next_payload.replace(true) {
                device.corruptions.set(device.corruptions.get() + 1);
            }
        }
    }
}

pub(crate) fn create_device(
    rng: &mut Rng,
    node: &MemoryNode,
    wallet: &Wallet,
    account: usize,
    now_ms: u64,
) -> Result<Device, SdkError> {
    let mut pickle_key = [0u8; 32];
    for chunk in pickle_key.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    let key = key_of(&pickle_key)?;
    let store = MemoryStore::new();
    let identity = super::executor::block_on(async {
        let created =
            identity::create(&store, wallet.address, wallet, key, Changes::new(), now_ms).await?;
        identity::start(&store, node, created, now_ms).await
    })?;
    if !identity.own.bundle_published {
        return Err(SdkError::new(ErrorCode::Storage, "the bundle was not published"));
    }
    Ok(Device {
        account,
        id: identity.own.id.clone(),
        store,
        pickle_key,
        offset: Rc::default(),
        promised: Rc::default(),
        corruptions: Cell::new(0),
        live: RefCell::default(),
        joined_late: false,
        revoked: Cell::new(false),
    })
}

fn key_of(bytes: &[u8; 32]) -> Result<PickleKey, SdkError> {
    PickleKey::from_slice(bytes).ok_or_else(|| SdkError::new(ErrorCode::Storage, "pickle key"))
}

/// This device's memory as a restart builds it from its store.
pub(crate) async fn load(device: &Device, wallet: &Wallet) -> Result<Local, SdkError> {
    let own = device.store.get::<OwnInstallationRecord>(&OWN_INSTALLATION.to_owned()).await?;
    let own = own.ok_or_else(|| SdkError::new(ErrorCode::Storage, "no installation"))?;
    let identity = identity::load(wallet.address, own, key_of(&device.pickle_key)?)?;
    Ok(Local {
        installation: RefCell::new(identity.installation),
        own: RefCell::new(identity.own),
        pickle_key: identity.pickle_key,
        refresh_threshold_ms: 1_000,
        delete_sent_payloads: false,
        faults: Faults::default(),
        pull_needed: Cell::new(Pull::CatchUp),
        pulled_at_ms: Cell::new(None),
        verified: Default::default(),
        stream: Default::default(),
    })
}

/// What a device's tasks hold: handles to its store, the node and its clock.
#[derive(Clone)]
struct TaskCtx {
    store: MemoryStore,
    node: MemoryNode,
    clock: Clock,
    offset: Rc<Cell<i64>>,
    id: String,
}

impl TaskCtx {
    fn now(&self) -> u64 {
        self.clock.now().saturating_add_signed(self.offset.get())
    }
}

/// The processors: passes one after another, pausing between them (longer after a
/// failure), as the browser's loop does when woken.
async fn processors(ctx: TaskCtx, local: Rc<Local>, mut rng: Rng) {
    let now = || ctx.now();
    loop {
        let pass_ctx = local.context(&ctx.store, &ctx.node, &now);
        let outcome = processor::pass(&pass_ctx, &local).await;
        pause(if outcome.is_ok() { 1 + rng.below(8) } else { 5 + rng.below(30) }).await;
    }
}

/// The inbox follower: the subscription's events, as the browser's follower handles them.
async fn follower(ctx: TaskCtx, local: Rc<Local>) {
    let mut subscription = ctx.node.subscribe(&[Topic::inbox(&ctx.id)]);
    loop {
        match subscription.next().await {
            Ok(event) => processor::on_inbox_event(&local, &ctx.store, event, ctx.now()).await,
            Err(NetError::Aborted) => return,
            Err(_) => pause(3).await,
        }
    }
}

/// The app: sends to a random other account now and then, recording each send that
/// resolved.
struct App {
    ctx: TaskCtx,
    device: Rc<Device>,
    wallets: Vec<Rc<Wallet>>,
    peers: Vec<usize>,
    budget: Rc<Cell<u32>>,
    sending: Rc<Cell<bool>>,
}

impl App {
    async fn run(self, mut rng: Rng) {
        // Like the binding's: later than the previous one sent by this instance.
        let mut last_at = 0u64;
        let own = self.wallets[self.device.account].address.to_string();
        loop {
            pause(1 + rng.below(40)).await;
            // Now and then a burst: several sends in one tick, queued as one group (as the
            // binding queues the sends an app makes without awaiting each).
            let burst = if rng.chance(0.1) { 1 + rng.below(20) } else { 1 };
            let mut group = Vec::new();
            let mut promised = Vec::new();
            for _ in 0..burst {
                if !self.sending.get() || self.budget.get() == 0 || self.peers.is_empty() {
                    break;
                }
                self.budget.set(self.budget.get() - 1);
                let peer = self.peers[rng.below(self.peers.len() as u64) as usize];
                let peer_address = self.wallets[peer].address.to_string();
                let Ok(conversation) =
                    queue::conversation(&self.ctx.store, &own, &peer_address, self.ctx.now()).await
                else {
                    continue;
                };
                let at = self.ctx.now().max(last_at + 1);
                last_at = at;
                let nonce = format!("{:016x}", rng.next_u64());
                let content = format!("{nonce} from {}", self.device.id).into_bytes();
                promised.push((peer, content.clone()));
                group.push(queue::Outgoing {
                    conversation_id: conversation.id,
                    content_type: "text/plain".into(),
                    content,
                    nonce,
                    now_ms: at,
                });
            }
            let queued = queue::queue_messages(&self.ctx.store, &own, group).await;
            for (queued, (peer, content)) in queued.into_iter().zip(promised) {
                if let Ok(message) = queued {
                    let (id, sent_at_ms) = (message.id, message.sent_at_ms);
                    let promise = Promise { id, peer, sent_at_ms, content };
                    self.device.promised.borrow_mut().push(promise);
                }
            }
        }
    }
}
