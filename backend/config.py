"""Settings: every environment variable the backend reads, with its default (see README, Configuration)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_MNEMONIC = "test test test test test test test test test test test junk"
# NOTE: placeholders that must never reach production; the validator below refuses them there.
DEFAULT_JWT_SECRET = "dev-jwt-secret-change-me"
DEFAULT_QR_SECRET = "dev-qr-secret-change-me"
DEFAULT_ADMIN_PASSWORD = "admin"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Configuration read from `LOYALTY_*` environment variables (and `.env` if present)."""

    model_config = SettingsConfigDict(env_prefix="LOYALTY_", env_file=".env", extra="ignore")

    env: Environment = Environment.DEVELOPMENT  # development | test | production (production refuses unsafe defaults)
    database_url: str = (
        f"sqlite:///{REPO_ROOT / 'var' / 'loyalty.db'}"  # SQLAlchemy URL; postgresql+psycopg://... in production
    )
    redis_url: str = ""  # empty: no Redis (embedded default); the database stays the source of truth
    redis_prefix: str = "loyalty:"  # prefix of every Redis key (lets several deployments share one Redis)
    rpc_urls: str = (
        "eth-tester://"  # comma-separated JSON-RPC URLs tried in order (failover); eth-tester:// = in-process
    )
    chain_name: str = "local"  # label for logs and the dashboard (e.g. polygon, amoy)
    deployer_key: str = ""  # hex private key that deploys the factory; dev mnemonic account 0 if empty
    hot_wallet_keys: str = ""  # comma-separated hex private keys of the minting hot wallets
    keystore_path: str = ""  # encrypted JSON keystore (or directory of them) for hot wallets
    keystore_password: str = ""  # password of the keystore file(s); never logged
    hot_wallet_count: int = Field(default=2, ge=1, le=32)  # dev wallets derived from the mnemonic
    deployments_dir: Path = REPO_ROOT / "var" / "deployments"  # where contract addresses are written per chain
    host: str = "127.0.0.1"  # API bind address
    port: int = Field(default=8000, ge=1, le=65535)  # API port
    jwt_secret: str = DEFAULT_JWT_SECRET  # HS256 key of operator/shopper session tokens (≥ 16 chars in production)
    jwt_ttl_s: int = Field(default=3600, ge=60)  # lifetime of issued JWTs, seconds
    qr_secret: str = DEFAULT_QR_SECRET  # HMAC key that signs QR codes (≥ 16 chars in production)
    qr_retired_secrets: str = ""  # comma-separated former QR keys whose codes still verify (key rotation)
    admin_email: str = "admin@example.com"  # first operator account, created by `loyalty migrate` if missing
    admin_password: str = DEFAULT_ADMIN_PASSWORD  # its password (≥ 16 chars in production)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)  # request bodies above this get 413
    max_json_depth: int = Field(default=64, ge=8, le=512)  # request bodies nested deeper ([ / {) get a 422 problem
    rpc_max_batch: int = Field(default=100, ge=1, le=1000)  # POST /rpc (embedded chain): most calls in one batch
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)  # attempts before a webhook delivery is marked dead
    webhook_backoff_base_s: float = Field(default=10.0, gt=0)  # first webhook retry delay (doubles, jittered)
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0)  # upper bound of one webhook retry delay, seconds
    webhook_timeout_s: float = Field(default=5.0, gt=0)  # webhook receiver read timeout per attempt, seconds
    webhook_connect_timeout_s: float = Field(default=2.0, gt=0)  # webhook receiver connect timeout, seconds
    webhook_poll_s: float = Field(default=1.0, gt=0)  # embedded runner / Celery beat: webhook delivery interval, s
    webhook_concurrency: int = Field(default=8, ge=1, le=64)  # webhook deliveries in flight at once per process
    webhook_secret_overlap_s: int = Field(default=86_400, ge=0)  # after a rotation the old secret also signs this long
    webhook_allow_private_urls: bool = True  # deliver to loopback/private receivers; false in production (SSRF guard)
    webhook_private_urls_override: bool = False  # production: LOYALTY_WEBHOOK_ALLOW_PRIVATE_URLS=true needs this too
    feed_poll_s: float = Field(default=0.25, gt=0)  # live feed (WebSocket): how often the event log is polled, s
    rate_limit_window_s: int = Field(default=60, ge=1)  # fixed window of the API rate limiter, seconds
    rate_limit_per_ip: int = Field(default=1200, ge=0)  # requests per window per client IP without valid credentials
    rate_limit_per_key: int = Field(default=300_000, ge=0)  # requests per window per API key / operator; 0 = off
    rate_limit_per_wallet: int = Field(default=300, ge=0)  # requests per window per shopper wallet; 0 = off
    rate_limit_trust_forwarded: bool = False  # take the client IP from X-Forwarded-For (only behind your own proxy)
    login_free_per_account: int = Field(default=5, ge=1)  # failed logins per account (and per account+IP) before delays
    login_free_per_ip: int = Field(default=20, ge=1)  # failed logins per client IP before delays
    login_delay_cap_s: int = Field(default=900, ge=1)  # cap of the login delay 2^(n - free) s
    batch_window_s: float = Field(default=2.0, gt=0)  # oldest pending credit waits at most this long for a batch
    batch_gas_share: float = Field(default=0.5, gt=0, le=1)  # a batch's gas limit stays under this share of the block
    batch_max_recipients: int = Field(default=1000, ge=1)  # upper bound of transfers per batchMint, besides gas
    shared_run_wait_s: float = Field(default=10.0, ge=0)  # a small brand's batch waits this long for company, at most
    batch_gas_headroom: float = Field(default=1.2, ge=1)  # gas limit sent = estimated batchMint gas × this
    pipeline_poll_s: float = Field(default=0.5, gt=0)  # embedded runner / Celery beat: pipeline step interval, s
    pipeline_settle_poll_s: float = Field(default=1.0, gt=0)  # interval of the settle steps (beat, embedded runner), s
    # NOTE: the relayer loop's head poll: a new block (or this poll) runs track → settle → build → dispatch at once
    relayer_poll_s: float = Field(default=0.25, gt=0)  # `loyalty relayer run`: how often it asks for a new head, s
    confirmations: int = Field(default=3, ge=0)  # no `finalized` tag: blocks mined on top of the receipt's block
    min_priority_fee_gwei: float = Field(default=0.0, ge=0)  # 25 on Polygon PoS (node rejects lower tips)
    max_in_flight_per_wallet: int = Field(default=8, ge=1, le=64)  # lanes: sent, not mined txs per wallet (Polygon: 16)
    redemption_reserved_lanes: int = Field(default=1, ge=0, le=63)  # of those, kept for redemptions (mints never)
    max_unfinal_per_wallet: int = Field(default=64, ge=1, le=1024)  # mined but not final txs per hot wallet
    replace_after_blocks: int = Field(default=3, ge=1)  # unmined this many blocks after its last attempt: replace
    fee_history_blocks: int = Field(default=10, ge=1, le=1024)  # blocks of eth_feeHistory the fee oracle reads
    fee_percentile: float = Field(default=50.0, ge=0, le=100)  # reward percentile of those blocks used as the tip
    base_fee_headroom_blocks: int = Field(default=3, ge=0, le=64)  # maxFee covers this many blocks of max base-fee rise
    # NOTE: fee caps sized for Polygon PoS (POL, 18 decimals), loose enough never to hold normal operation there or
    # on anvil/eth-tester (~1-3 gwei, a 15M-gas batch costs ~0.04 ETH), tight enough to stop a runaway:
    # - per tx 100 POL: a full batch of 15M gas at ~6,700 gwei, or the 2^25 tx gas cap at ~3,000 gwei; Polygon's base
    #   fee is 30-300 gwei normally and reached a few thousand gwei only in the worst spikes of 2022-2024;
    # - maxFeePerGas 10,000 gwei: the fee oracle's 3-block headroom × a 7,000 gwei base fee; above it a quote (or a
    #   replacement escalating by 12.5 % per try) waits for an operator instead of paying whatever the pool asks;
    # - per hour 1,000 POL (fees paid + the worst case of what is in flight): ~2,200 full 15M-gas batches at 30 gwei,
    #   more than one per 2 s block; at a 1,000 gwei spike still ~66 batches an hour before intents wait.
    # 0 switches a cap off.
    max_fee_per_tx_wei: int = Field(default=100 * 10**18, ge=0)  # maxFee × gasLimit of one tx must stay below it
    max_fee_per_gas_wei: int = Field(default=10_000 * 10**9, ge=0)  # maxFeePerGas (gasPrice) of one tx, at most
    max_spend_per_hour_wei: int = Field(default=1_000 * 10**18, ge=0)  # fees paid + in flight per chain per hour
    send_error_attempts: int = Field(default=5, ge=1)  # unrecognised send errors in a row before a tx is cancelled
    gas_estimate_headroom: float = Field(default=1.1, ge=1)  # gas limit signed = eth_estimateGas × this (≤ model's)
    use_finalized_tag: bool = True  # final = at or under the node's `finalized` block when it has that tag
    tx_gas_cap: int = Field(default=33_554_432, ge=21_000)  # per-transaction gas cap (2^25 on Polygon PoS)
    # NOTE: the relayer keeps comparing the block hash of confirmed/reverted intents with the canonical chain for
    # this many blocks after their block: the same window as LOYALTY_REORG_DEPTH, the deepest reorg we plan for
    reorg_watch_blocks: int = Field(default=160, ge=0)  # blocks the relayer re-checks a final tx's block; 0 = never
    reorg_watch_every_s: float = Field(default=3.0, ge=0)  # at most one look-back read (a batch) per interval
    indexer_poll_s: float = Field(default=1.0, gt=0)  # how often the indexer asks for a new head, seconds
    reorg_depth: int = Field(default=160, ge=1)  # Polygon reorgs reached 157 blocks historically
    # NOTE: off by default: the mirror re-checks LOYALTY_REORG_DEPTH blocks even when the node calls them final, so a
    # reorg past the node's finality (anvil allows it; Polygon's 157-block reorg of 2022 predates milestones) is
    # rolled back instead of leaving transfers in the mirror that the chain no longer has.
    indexer_finality_tag: bool = False  # true: trust the node's `finalized` tag (faster backfill), else the depth
    indexer_max_range: int = Field(default=100_000, ge=1)  # upper bound of the adaptive eth_getLogs block range
    indexer_defer_indexes_blocks: int = Field(default=1_000, ge=0)  # empty mirror this far behind: index at the end
    siwe_domain: str = "127.0.0.1:8000"  # the `domain` a Sign-In with Ethereum message must name (host[:port])
    siwe_nonce_ttl_s: int = Field(default=300, ge=10)  # a SIWE nonce is single use and expires after this, seconds
    shopper_session_ttl_s: int = Field(default=900, ge=60)  # lifetime of a shopper session JWT, seconds
    redemption_deadline_s: int = Field(default=600, ge=60)  # a prepared redemption signature is valid this long
    redemption_gas_limit: int = Field(default=200_000, ge=21_000)  # gas limit of a relayed redeemWithSig
    tier_thresholds: str = "silver=100,gold=1000,platinum=5000"  # platform tier thresholds, lifetime whole tokens
    hot_wallet_low_balance_wei: int = Field(default=10**17, ge=0)  # dashboard warns when a hot wallet holds less (wei)

    @field_validator("rpc_urls")
    @classmethod
    def _rpc_urls_not_empty(cls, value: str) -> str:
        if not [u for u in value.split(",") if u.strip()]:
            raise ValueError("LOYALTY_RPC_URLS needs at least one URL")
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            weak = [
                name
                for name, value, default in (
                    ("LOYALTY_JWT_SECRET", self.jwt_secret, DEFAULT_JWT_SECRET),
                    ("LOYALTY_QR_SECRET", self.qr_secret, DEFAULT_QR_SECRET),
                    ("LOYALTY_ADMIN_PASSWORD", self.admin_password, DEFAULT_ADMIN_PASSWORD),
                )
                if value == default or len(value) < 16
            ]
            if weak:
                raise ConfigurationError(
                    f"refusing to start in production with default or short secrets: {', '.join(weak)}"
                )
            if self.uses_embedded_chain:
                raise ConfigurationError("production needs LOYALTY_RPC_URLS pointing at a real node")
            if "webhook_allow_private_urls" not in self.model_fields_set:
                self.webhook_allow_private_urls = False  # the SSRF guard is on in production unless asked off
            elif self.webhook_allow_private_urls and not self.webhook_private_urls_override:
                raise ConfigurationError(
                    "refusing to start in production with LOYALTY_WEBHOOK_ALLOW_PRIVATE_URLS=true (webhooks could"
                    " reach internal services); set LOYALTY_WEBHOOK_PRIVATE_URLS_OVERRIDE=true if you mean it"
                )
        return self

    @property
    def rpc_url_list(self) -> list[str]:
        return [u.strip() for u in self.rpc_urls.split(",") if u.strip()]

    @property
    def uses_embedded_chain(self) -> bool:
        return self.rpc_url_list[0].startswith("eth-tester")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
