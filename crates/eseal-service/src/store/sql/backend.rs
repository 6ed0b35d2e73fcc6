// The SQL shared by the backends, `include!`d into each backend's module (see the `sql`
// module's documentation): the readers of rows, the append path and the stored Merkle tree,
// and the `Store` implementation. Names resolve in the including module, which defines
// `ThisStore` (with fields `pool`, `origin` and `writer`), `Conn`, `Db`, `DbRow`,
// `begin_write` and `NODE_JOIN`.

/// Reads a checkpoint row.
fn checkpoint_from_row(row: &DbRow) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        size: unsigned(row.try_get(0)?, "checkpoints.size")?,
        root: digest(row.try_get(1)?, "checkpoints.root")?,
        note: row.try_get(2)?,
        signed_at: row.try_get(3)?,
    })
}

/// Reads a seal row (without its custodians).
fn seal_from_row(row: &DbRow) -> Result<Seal, StoreError> {
    let state: String = row.try_get(9)?;
    Ok(Seal {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        organization: row.try_get(2)?,
        kind: row.try_get(3)?,
        image_png: row.try_get(4)?,
        certificate_chain: decode_chain(&row.try_get::<Vec<u8>, _>(5)?)?,
        key_reference: row.try_get(6)?,
        custodians: Vec::new(),
        valid_from: row.try_get(7)?,
        valid_until: row.try_get(8)?,
        state: SealState::parse(&state).ok_or_else(|| corrupt(&format!("unknown seal state {state:?}")))?,
        registered_at: row.try_get(10)?,
    })
}

/// Reads an authorization row.
fn authorization_from_row(row: &DbRow) -> Result<Authorization, StoreError> {
    authorization_at(row, 0)
}

/// Reads an authorization from the columns of `row` starting at `base`.
fn authorization_at(row: &DbRow, base: usize) -> Result<Authorization, StoreError> {
    let column = |i: usize| base + i;
    let id: String = row.try_get(column(0))?;
    let state: String = row.try_get(column(8))?;
    let closed_at: Option<i64> = row.try_get(column(9))?;
    let consumed_by: Option<String> = row.try_get(column(10))?;
    let revoked_by: Option<String> = row.try_get(column(11))?;
    let state = match (state.as_str(), closed_at, consumed_by, revoked_by) {
        ("active", _, _, _) => AuthorizationState::Active,
        ("consumed", Some(at), Some(request_id), _) => AuthorizationState::Consumed { at, request_id },
        ("revoked", Some(at), _, Some(by)) => AuthorizationState::Revoked { at, by },
        (other, ..) => return Err(corrupt(&format!("authorization {id} has state {other:?} without its details"))),
    };
    let document_sha256 = match row.try_get::<Option<Vec<u8>>, _>(column(5))? {
        Some(bytes) => Some(digest(bytes, "authorizations.document_sha256")?),
        None => None,
    };
    Ok(Authorization {
        id,
        seal_id: row.try_get(column(1))?,
        grantee: row.try_get(column(2))?,
        granted_by: row.try_get(column(3))?,
        case_number: row.try_get(column(4))?,
        document_sha256,
        granted_at: row.try_get(column(6))?,
        expires_at: row.try_get(column(7))?,
        state,
    })
}

/// Reads a stamping row.
fn stamping_from_row(row: &DbRow) -> Result<StampingRecord, StoreError> {
    stamping_at(row, 0)
}

/// Reads a stamping from the columns of `row` starting at `base`.
fn stamping_at(row: &DbRow, base: usize) -> Result<StampingRecord, StoreError> {
    let column = |i: usize| base + i;
    Ok(StampingRecord {
        request_id: row.try_get(column(0))?,
        principal: row.try_get(column(1))?,
        seal_id: row.try_get(column(2))?,
        authorization_id: row.try_get(column(3))?,
        case_number: row.try_get(column(4))?,
        input_sha256: digest(row.try_get(column(5))?, "stampings.input_sha256")?,
        output_sha256: digest(row.try_get(column(6))?, "stampings.output_sha256")?,
        output_size: unsigned(row.try_get(column(7))?, "stampings.output_size")?,
        signing_time: row.try_get(column(8))?,
        field_name: row.try_get(column(9))?,
        cms: row.try_get(column(10))?,
        cms_sha256: digest(row.try_get(column(11))?, "stampings.cms_sha256")?,
        options_json: row.try_get(column(12))?,
        audit_sequence: unsigned(row.try_get(column(13))?, "stampings.audit_sequence")?,
    })
}

/// How many columns [`stamping_at`] reads.
const STAMPING_COLUMNS: usize = 14;

impl ThisStore {
    /// Hands `write` to the group-commit writer and waits until its batch committed.
    async fn submit(&self, write: batch::Write, now: i64) -> Result<batch::Written, StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the store's writer has stopped (the service is shutting down)".into());
        self.writer.send(batch::Pending { write, now, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Starts a write transaction that holds the backend's write lock from the start
    /// ([`begin_write`]).
    async fn write(&self) -> Result<Transaction<'static, Db>, StoreError> {
        begin_write(&self.pool).await
    }

    /// Appends one audit record within the caller's write transaction: THE append path, which
    /// every state change takes. Refuses when the log is shorter than the latest checkpoint
    /// (see [`restored_backup`]); numbers the record `MAX + 1`, stores its canonical JSON, and
    /// adds its leaf to the stored tree ([`put_leaves`]). Returns the sequence number.
    async fn append(&self, conn: &mut Conn, event: AuditEvent, now: i64) -> Result<u64, StoreError> {
        append_in(conn, &self.origin, event, now).await
    }

    /// Starts a read transaction and reads the log's length.
    async fn read_log(&self) -> Result<(Transaction<'static, Db>, u64), StoreError> {
        let mut tx = self.pool.begin().await?;
        let len = log_len(&mut tx).await?;
        Ok((tx, len))
    }
}

/// The number of records in the log.
async fn log_len(conn: &mut Conn) -> Result<u64, StoreError> {
    let len: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(sequence), 0) FROM audit_log").fetch_one(&mut *conn).await?;
    unsigned(len, "audit_log.sequence")
}

/// The number of records in the log and the size of the latest checkpoint, in one query.
async fn log_len_and_latest_checkpoint(conn: &mut Conn) -> Result<(u64, Option<u64>), StoreError> {
    let row = sqlx::query("SELECT (SELECT COALESCE(MAX(sequence), 0) FROM audit_log), (SELECT MAX(size) FROM checkpoints)")
        .fetch_one(&mut *conn)
        .await?;
    let len = unsigned(row.try_get(0)?, "audit_log.sequence")?;
    let checkpoint = row.try_get::<Option<i64>, _>(1)?.map(|size| unsigned(size, "checkpoints.size")).transpose()?;
    Ok((len, checkpoint))
}

/// The stored tree nodes among `wanted`, as `(level, index)`, in one query per
/// [`NODES_PER_QUERY`]. Nodes that are not stored are simply absent from the map (the tree
/// then reports them as [`AuditError::MissingNode`]).
async fn fetch_nodes(conn: &mut Conn, wanted: &[(u8, u64)]) -> Result<NodeMap, StoreError> {
    let mut nodes = NodeMap::new();
    for chunk in wanted.chunks(NODES_PER_QUERY) {
        // The wanted pairs as a constant table joined to the primary key: one point lookup
        // each (`(level, idx) IN (VALUES ...)` would scan the table). The SQL text holds
        // nothing but placeholders numbered here (and the join keyword); every value is bound.
        let mut sql = String::from("SELECT n.level, n.idx, n.hash FROM (VALUES ");
        for i in 0..chunk.len() {
            let separator = if i == 0 { "" } else { ", " };
            let _ = write!(sql, "{separator}(${}, ${})", 2 * i + 1, 2 * i + 2);
        }
        let _ = write!(sql, ") AS w {NODE_JOIN} audit_nodes AS n ON n.level = w.column1 AND n.idx = w.column2");
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for &(level, index) in chunk {
            query = query.bind(i64::from(level)).bind(signed(index, "tree node index")?);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let level: i64 = row.try_get(0)?;
            let level = u8::try_from(level).map_err(|_| corrupt(&format!("audit_nodes.level is {level}")))?;
            let index = unsigned(row.try_get(1)?, "audit_nodes.idx")?;
            nodes.put(level, index, digest(row.try_get(2)?, "audit_nodes.hash")?);
        }
    }
    Ok(nodes)
}

/// Appends one audit record within the caller's write transaction (begun with
/// [`begin_write`]): THE append path, which every state change made outside the writer takes. Refuses when the log is shorter than the latest
/// checkpoint (see [`restored_backup`]); numbers the record `MAX + 1`, stores its canonical
/// JSON, and adds its leaf to the stored tree ([`put_leaves`]). Returns the sequence number.
async fn append_in(conn: &mut Conn, origin: &str, event: AuditEvent, now: i64) -> Result<u64, StoreError> {
    let (len, checkpointed) = log_len_and_latest_checkpoint(conn).await?;
    if let Some(size) = checkpointed.filter(|&size| size > len) {
        return Err(restored_backup(len, size));
    }
    let sequence = len + 1;
    let (bytes, leaf) = append_in_memory(origin, sequence, event, now);
    sqlx::query("INSERT INTO audit_log (sequence, time, record) VALUES ($1, $2, $3)")
        .bind(signed(sequence, "audit sequence")?)
        .bind(now)
        .bind(bytes)
        .execute(&mut *conn)
        .await?;
    put_leaves(conn, len, &[leaf]).await?;
    Ok(sequence)
}

/// Adds `leaves` to the stored tree of `size` leaves (leaf indices `size..`), within the
/// caller's write transaction: reads the frontier the appends need, computes in memory, and
/// inserts the nodes each leaf completes ([`merkle::append_nodes`]). One leaf reads what
/// [`merkle::nodes_for_append`] lists (one node on average); several leaves at once (a batch)
/// read the whole right frontier, the subtrees of the root at `size`
/// ([`merkle::nodes_for_root`], one per set bit of `size`), which holds every left sibling
/// that appending any number of leaves reads from before the batch.
///
/// A node that exists already means the tree is longer than the log (records deleted behind
/// the service's back): refused, so that no different record ever takes a signed leaf's place.
async fn put_leaves(conn: &mut Conn, size: u64, leaves: &[Hash]) -> Result<(), StoreError> {
    let frontier = match leaves.len() {
        0 => return Ok(()),
        1 => merkle::nodes_for_append(size),
        _ => merkle::nodes_for_root(size),
    };
    let frontier = fetch_nodes(conn, &frontier).await?;
    let mut tree = MerkleTree::assume_size(frontier, size);
    for leaf in leaves {
        tree.append(*leaf).map_err(tree_error)?;
    }
    let nodes = tree.into_store();
    let mut written = Vec::with_capacity(2 * leaves.len() + 64);
    for index in size..size + leaves.len() as u64 {
        for (level, idx) in merkle::append_nodes(index) {
            let hash = nodes.get(level, idx).ok_or_else(|| tree_error(AuditError::MissingNode { level, index: idx }))?;
            written.push((level, idx, hash));
        }
    }
    // One statement per NODES_PER_QUERY nodes; the SQL text holds nothing but placeholders
    // numbered here, every value is bound.
    for chunk in written.chunks(NODES_PER_QUERY) {
        let mut sql = String::from("INSERT INTO audit_nodes (level, idx, hash) VALUES ");
        for i in 0..chunk.len() {
            let separator = if i == 0 { "" } else { ", " };
            let _ = write!(sql, "{separator}(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3);
        }
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (level, idx, hash) in chunk {
            query = query.bind(i64::from(*level)).bind(signed(*idx, "tree node index")?).bind(&hash[..]);
        }
        query.execute(&mut *conn).await.map_err(|error| match &error {
            sqlx::Error::Database(e) if e.is_unique_violation() => StoreError::Conflict(format!(
                "the audit tree already holds nodes beyond the log's {size} records: records were removed outside the service; \
                 appending would fork the log"
            )),
            _ => error.into(),
        })?;
    }
    Ok(())
}

/// The root of the stored tree at `size`, which the caller checked is at most the log's length.
async fn root_at(conn: &mut Conn, size: u64) -> Result<Hash, StoreError> {
    let nodes = fetch_nodes(conn, &merkle::nodes_for_root(size)).await?;
    MerkleTree::assume_size(nodes, size).root(size).map_err(tree_error)
}

/// The refusal of a key reference, certificate or public key that a registered seal holds
/// already, naming that seal; `None` when all three are free. Fills in first the fingerprints
/// of seals registered before they were stored, within the caller's write transaction.
async fn key_holder(conn: &mut Conn, key_reference: &str, certificate: Option<[u8; 32]>, public_key: Option<[u8; 32]>) -> Result<Option<StoreError>, StoreError> {
    let unfilled = sqlx::query("SELECT id, certificate_chain FROM seals WHERE certificate_sha256 IS NULL").fetch_all(&mut *conn).await?;
    for row in &unfilled {
        let id: String = row.try_get(0)?;
        let (c, p) = key_fingerprints(&decode_chain(&row.try_get::<Vec<u8>, _>(1)?)?);
        sqlx::query("UPDATE seals SET certificate_sha256 = $1, public_key_sha256 = $2 WHERE id = $3")
            .bind(c.as_ref().map(|d| &d[..]))
            .bind(p.as_ref().map(|d| &d[..]))
            .bind(&id)
            .execute(&mut *conn)
            .await?;
    }
    let rows = sqlx::query(
        "SELECT id, key_reference, certificate_sha256, public_key_sha256 FROM seals \
         WHERE key_reference = $1 OR certificate_sha256 = $2 OR public_key_sha256 = $3 ORDER BY registered_at, id",
    )
    .bind(key_reference)
    .bind(certificate.as_ref().map(|d| &d[..]))
    .bind(public_key.as_ref().map(|d| &d[..]))
    .fetch_all(&mut *conn)
    .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let seal: String = row.try_get(0)?;
    let held: String = row.try_get(1)?;
    let what = if held == key_reference {
        "key reference"
    } else if certificate.is_some() && row.try_get::<Option<Vec<u8>>, _>(2)?.as_deref() == certificate.as_ref().map(|d| &d[..]) {
        "certificate"
    } else {
        "public key"
    };
    Ok(Some(StoreError::KeyInUse { what, seal }))
}

/// The authorization with this id, read within a transaction or from the pool.
async fn fetch_authorization(conn: &mut Conn, id: &str) -> Result<Option<Authorization>, StoreError> {
    let row = sqlx::query(concat!("SELECT ", authorization_columns!(), " FROM authorizations WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(authorization_from_row).transpose()
}

#[async_trait::async_trait]
impl Store for ThisStore {
    async fn register_seal(&self, seal: &Seal, audit: AuditEvent, now: i64) -> Result<u64, StoreError> {
        for (i, custodian) in seal.custodians.iter().enumerate() {
            if seal.custodians[..i].contains(custodian) {
                return Err(StoreError::Conflict(format!("custodian {custodian} is listed twice for seal {}", seal.id)));
            }
        }
        let chain = encode_chain(&seal.certificate_chain)?;
        let (certificate_sha256, public_key_sha256) = key_fingerprints(&seal.certificate_chain);
        // Under the write lock (every registration takes it), so that of two registrations of
        // one key the second sees the first.
        let mut tx = self.write().await?;
        let taken: Option<String> = sqlx::query_scalar("SELECT id FROM seals WHERE id = $1").bind(&seal.id).fetch_optional(&mut *tx).await?;
        if taken.is_some() {
            tx.rollback().await?;
            return Err(StoreError::AlreadyExists { what: "seal", id: seal.id.clone() });
        }
        if let Some(refusal) = key_holder(&mut tx, &seal.key_reference, certificate_sha256, public_key_sha256).await? {
            tx.rollback().await?;
            return Err(refusal);
        }
        sqlx::query(concat!(
            "INSERT INTO seals (",
            seal_columns!(),
            ", certificate_sha256, public_key_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
            .bind(&seal.id)
            .bind(&seal.name)
            .bind(&seal.organization)
            .bind(&seal.kind)
            .bind(&seal.image_png)
            .bind(chain)
            .bind(&seal.key_reference)
            .bind(seal.valid_from)
            .bind(seal.valid_until)
            .bind(seal.state.as_str())
            .bind(seal.registered_at)
            .bind(certificate_sha256.as_ref().map(|d| &d[..]))
            .bind(public_key_sha256.as_ref().map(|d| &d[..]))
            .execute(&mut *tx)
            .await
            .map_err(inserting("seal", &seal.id))?;
        for (position, custodian) in seal.custodians.iter().enumerate() {
            sqlx::query("INSERT INTO seal_custodians (seal_id, principal, position) VALUES ($1, $2, $3)")
                .bind(&seal.id)
                .bind(custodian)
                .bind(signed(position as u64, "custodian position")?)
                .execute(&mut *tx)
                .await?;
        }
        let sequence = self.append(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(sequence)
    }

    async fn seal(&self, id: &str) -> Result<Option<Seal>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(row) =
            sqlx::query(concat!("SELECT ", seal_columns!(), " FROM seals WHERE id = $1")).bind(id).fetch_optional(&mut *tx).await?
        else {
            return Ok(None);
        };
        let mut seal = seal_from_row(&row)?;
        let custodians = sqlx::query_scalar("SELECT principal FROM seal_custodians WHERE seal_id = $1 ORDER BY position")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        seal.custodians = custodians;
        Ok(Some(seal))
    }

    async fn list_seals(&self) -> Result<Vec<Seal>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(concat!("SELECT ", seal_columns!(), " FROM seals ORDER BY id")).fetch_all(&mut *tx).await?;
        let custodians =
            sqlx::query("SELECT seal_id, principal FROM seal_custodians ORDER BY seal_id, position").fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let mut seals = rows.iter().map(seal_from_row).collect::<Result<Vec<_>, _>>()?;
        for row in &custodians {
            let seal_id: String = row.try_get(0)?;
            let principal: String = row.try_get(1)?;
            if let Ok(i) = seals.binary_search_by(|s| s.id.as_str().cmp(&seal_id)) {
                seals[i].custodians.push(principal);
            }
        }
        Ok(seals)
    }

    async fn set_seal_state(&self, id: &str, from: SealState, to: SealState, audit: AuditEvent, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let changed = if from == to || from == SealState::Revoked {
            0
        } else {
            sqlx::query("UPDATE seals SET state = $1 WHERE id = $2 AND state = $3")
                .bind(to.as_str())
                .bind(id)
                .bind(from.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
        };
        if changed == 0 {
            let current: Option<String> =
                sqlx::query_scalar("SELECT state FROM seals WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
            tx.rollback().await?;
            return Err(match current {
                None => StoreError::NotFound { what: "seal", id: id.to_string() },
                Some(current) => {
                    StoreError::Conflict(format!("seal {id} is {current}; it cannot go from {} to {}", from.as_str(), to.as_str()))
                }
            });
        }
        let sequence = self.append(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(sequence)
    }

    async fn grant(&self, authorization: &Authorization, audit: AuditEvent, now: i64) -> Result<u64, StoreError> {
        match self.submit(batch::Write::Grant(Box::new(authorization.clone()), audit), now).await? {
            batch::Written::Sequence(sequence) => Ok(sequence),
            batch::Written::Stamping(_) => Err(StoreError::Database("the writer answered a grant with a stamping".into())),
        }
    }

    async fn authorization(&self, id: &str) -> Result<Option<Authorization>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        fetch_authorization(&mut conn, id).await
    }

    async fn list_authorizations(
        &self,
        filter: &AuthorizationFilter,
        page: &Page,
    ) -> Result<(Vec<Authorization>, Option<String>), StoreError> {
        let size = page.effective_size();
        let after = page.token.as_deref().map(decode_token).transpose()?;
        let (state, active_at, expired_at) = match filter.state {
            None => (None, None, None),
            Some(AuthorizationStateFilter::Active { now }) => (Some("active"), Some(now), None),
            Some(AuthorizationStateFilter::Consumed) => (Some("consumed"), None, None),
            Some(AuthorizationStateFilter::Revoked) => (Some("revoked"), None, None),
            Some(AuthorizationStateFilter::Expired { now }) => (Some("active"), None, Some(now)),
        };
        // One fixed statement: each filter is `($n IS NULL OR ...)`, so no SQL is built at run
        // time. Paging is by key (granted_at, id), strictly after the previous page's last item.
        let rows = sqlx::query(concat!(
            "SELECT ",
            authorization_columns!(),
            " FROM authorizations",
            " WHERE ($1 IS NULL OR seal_id = $1)",
            " AND ($2 IS NULL OR grantee = $2)",
            " AND ($3 IS NULL OR granted_at >= $3)",
            " AND ($4 IS NULL OR granted_at < $4)",
            " AND ($5 IS NULL OR state = $5)",
            " AND ($6 IS NULL OR expires_at >= $6)",
            " AND ($7 IS NULL OR expires_at < $7)",
            " AND ($8 IS NULL OR granted_at < $8 OR (granted_at = $8 AND id < $9))",
            " ORDER BY granted_at DESC, id DESC",
            " LIMIT $10"
        ))
        .bind(filter.seal_id.as_deref())
        .bind(filter.grantee.as_deref())
        .bind(filter.granted_after)
        .bind(filter.granted_before)
        .bind(state)
        .bind(active_at)
        .bind(expired_at)
        .bind(after.as_ref().map(|(granted_at, _)| *granted_at))
        .bind(after.as_ref().map(|(_, id)| id.as_str()))
        .bind(i64::from(size) + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut items = rows.iter().map(authorization_from_row).collect::<Result<Vec<_>, _>>()?;
        let next = if items.len() > size as usize {
            items.truncate(size as usize);
            items.last().map(|last| encode_token(last.granted_at, &last.id))
        } else {
            None
        };
        Ok((items, next))
    }

    async fn revoke_authorization(&self, id: &str, by: &str, audit: AuditEvent, now: i64) -> Result<(Authorization, u64), StoreError> {
        let mut tx = self.write().await?;
        let changed =
            sqlx::query("UPDATE authorizations SET state = 'revoked', closed_at = $1, revoked_by = $2 WHERE id = $3 AND state = 'active'")
                .bind(now)
                .bind(by)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let current = fetch_authorization(&mut tx, id).await?;
        if changed == 0 {
            tx.rollback().await?;
            return Err(not_active(current, id, None));
        }
        let Some(authorization) = current else {
            return Err(corrupt(&format!("authorization {id} vanished while being revoked")));
        };
        let sequence = self.append(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok((authorization, sequence))
    }

    async fn stamping(&self, principal: &str, request_id: &str) -> Result<Option<StampingRecord>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", stamping_columns!(), " FROM stampings WHERE principal = $1 AND request_id = $2"))
            .bind(principal)
            .bind(request_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(stamping_from_row).transpose()
    }

    async fn stamping_and_authorization(
        &self,
        principal: &str,
        request_id: &str,
        authorization_id: &str,
    ) -> Result<(Option<StampingRecord>, Option<Authorization>), StoreError> {
        // One statement, one row: each side is NULL when absent (both key columns are NOT NULL).
        let row = sqlx::query(concat!(
            "SELECT s.*, a.* FROM (SELECT 1) AS one",
            " LEFT JOIN (SELECT ",
            stamping_columns!(),
            " FROM stampings WHERE principal = $1 AND request_id = $2) AS s ON 1 = 1",
            " LEFT JOIN (SELECT ",
            authorization_columns!(),
            " FROM authorizations WHERE id = $3) AS a ON 1 = 1"
        ))
        .bind(principal)
        .bind(request_id)
        .bind(authorization_id)
        .fetch_one(&self.pool)
        .await?;
        let stamping = match row.try_get::<Option<String>, _>(0)? {
            Some(_) => Some(stamping_at(&row, 0)?),
            None => None,
        };
        let authorization = match row.try_get::<Option<String>, _>(STAMPING_COLUMNS)? {
            Some(_) => Some(authorization_at(&row, STAMPING_COLUMNS)?),
            None => None,
        };
        Ok((stamping, authorization))
    }

    async fn stamping_by_cms(&self, cms_sha256: &[u8; 32]) -> Result<Option<StampingRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            stamping_columns!(),
            " FROM stampings WHERE cms_sha256 = $1 ORDER BY signing_time, request_id LIMIT 1"
        ))
        .bind(&cms_sha256[..])
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stamping_from_row).transpose()
    }

    async fn commit_stamping(
        &self,
        stamping: &StampingRecord,
        consumed: AuditEvent,
        sealed: AuditEvent,
        now: i64,
    ) -> Result<StampingRecord, StoreError> {
        match self.submit(batch::Write::Stamping(Box::new(stamping.clone()), consumed, sealed), now).await? {
            batch::Written::Stamping(record) => Ok(*record),
            batch::Written::Sequence(_) => Err(StoreError::Database("the writer answered a stamping with a sequence number".into())),
        }
    }

    async fn append_audit(&self, event: AuditEvent, now: i64) -> Result<u64, StoreError> {
        match self.submit(batch::Write::Append(event), now).await? {
            batch::Written::Sequence(sequence) => Ok(sequence),
            batch::Written::Stamping(_) => Err(StoreError::Database("the writer answered an append with a stamping".into())),
        }
    }

    async fn audit_records(&self, from_sequence: u64, limit: u32) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        // Sequences beyond i64 cannot exist; asking from there yields nothing.
        let Ok(from) = i64::try_from(from_sequence) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query("SELECT sequence, record FROM audit_log WHERE sequence >= $1 ORDER BY sequence LIMIT $2")
            .bind(from)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| Ok((unsigned(row.try_get(0)?, "audit_log.sequence")?, row.try_get(1)?))).collect()
    }

    async fn audit_records_within(&self, from_sequence: u64, limit: u32, max_bytes: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let Ok(from) = i64::try_from(from_sequence) else {
            return Ok(Vec::new());
        };
        // The sizes first (without reading the records), then only the records that fit.
        // Records never change once written, so the two reads agree.
        let sizes: Vec<i64> =
            sqlx::query_scalar("SELECT CAST(length(record) AS BIGINT) FROM audit_log WHERE sequence >= $1 ORDER BY sequence LIMIT $2")
                .bind(from)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        let mut total = 0u64;
        let mut count = 0u32;
        for size in sizes {
            total = total.saturating_add(unsigned(size, "audit_log.record length")?);
            if count > 0 && total > max_bytes {
                break;
            }
            count += 1;
        }
        if count == 0 {
            return Ok(Vec::new());
        }
        self.audit_records(from_sequence, count).await
    }

    async fn audit_len(&self) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        log_len(&mut conn).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn set_stamping_limits(&self, limits: super::StampingLimits) -> Result<(), StoreError> {
        *self.limits.write().unwrap_or_else(|p| p.into_inner()) = limits;
        Ok(())
    }

    async fn tree_root(&self, size: u64) -> Result<[u8; 32], StoreError> {
        let (mut tx, len) = self.read_log().await?;
        within_log(size, len)?;
        let root = root_at(&mut tx, size).await?;
        tx.commit().await?;
        Ok(root)
    }

    async fn inclusion_proof(&self, sequence: u64, size: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        // Stored nodes never change once written, so no snapshot is needed: one query on the
        // way that succeeds. When it fails, the log's length says why.
        let mut conn = self.pool.acquire().await?;
        let attempt = async {
            if sequence == 0 || sequence > size {
                return None;
            }
            let wanted = merkle::nodes_for_inclusion_proof(sequence - 1, size).ok()?;
            Some(fetch_nodes(&mut conn, &wanted).await.map(|nodes| MerkleTree::assume_size(nodes, size).inclusion_proof(sequence - 1, size)))
        }
        .await;
        match attempt {
            Some(Ok(Ok(proof))) => return Ok(proof),
            Some(Err(e)) => return Err(e),
            Some(Ok(Err(e))) if !matches!(e, AuditError::MissingNode { .. }) => return Err(tree_error(e)),
            _ => {}
        }
        let len = log_len(&mut conn).await?;
        if sequence == 0 || sequence > len {
            return Err(StoreError::NotFound { what: "audit record", id: sequence.to_string() });
        }
        within_log(size, len)?;
        Err(StoreError::Conflict(format!("record {sequence} is not in the tree of size {size}")))
    }

    async fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        let (mut tx, len) = self.read_log().await?;
        within_log(new_size, len)?;
        if old_size > new_size {
            return Err(StoreError::Conflict(format!("no consistency proof from tree size {old_size} to the smaller {new_size}")));
        }
        if old_size == 0 || old_size == new_size {
            return Ok(Vec::new());
        }
        let wanted = merkle::nodes_for_consistency_proof(old_size, new_size).map_err(tree_error)?;
        let nodes = fetch_nodes(&mut tx, &wanted).await?;
        tx.commit().await?;
        MerkleTree::assume_size(nodes, new_size).consistency_proof(old_size, new_size).map_err(tree_error)
    }

    async fn leaf_hashes(&self, from_sequence: u64, limit: u32) -> Result<Vec<(u64, [u8; 32])>, StoreError> {
        // Leaf index = sequence - 1; sequences beyond i64 cannot exist.
        let Ok(from) = i64::try_from(from_sequence.saturating_sub(1)) else {
            return Ok(Vec::new());
        };
        // Only the leaves of records in the log (the tree is never longer, unless records
        // were deleted behind the service's back).
        let rows = sqlx::query(
            "SELECT idx, hash FROM audit_nodes WHERE level = 0 AND idx >= $1 \
             AND idx < (SELECT COALESCE(MAX(sequence), 0) FROM audit_log) ORDER BY idx LIMIT $2",
        )
        .bind(from)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((unsigned(row.try_get(0)?, "audit_nodes.idx")? + 1, digest(row.try_get(1)?, "audit_nodes.hash")?)))
            .collect()
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", checkpoint_columns!(), " FROM checkpoints ORDER BY size DESC LIMIT 1"))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(checkpoint_from_row).transpose()
    }

    async fn checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(None);
        };
        let row = sqlx::query(concat!("SELECT ", checkpoint_columns!(), " FROM checkpoints WHERE size = $1"))
            .bind(size)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(checkpoint_from_row).transpose()
    }

    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows = sqlx::query(concat!("SELECT ", checkpoint_columns!(), " FROM checkpoints ORDER BY size")).fetch_all(&self.pool).await?;
        rows.iter().map(checkpoint_from_row).collect()
    }

    async fn save_checkpoint(&self, checkpoint: &StoredCheckpoint, audit: AuditEvent, now: i64) -> Result<u64, StoreError> {
        if audit.event != Some(EventKind::CheckpointSigned) {
            return Err(StoreError::Conflict(format!(
                "a checkpoint is saved with a checkpoint_signed record, not {}",
                audit.event.map_or("an event without kind", EventKind::as_str)
            )));
        }
        let size = checkpoint.size;
        let mut tx = self.write().await?;
        let len = log_len(&mut tx).await?;
        let latest = sqlx::query("SELECT size, root, note, audit_sequence FROM checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = latest {
            let latest_size = unsigned(row.try_get(0)?, "checkpoints.size")?;
            if latest_size > len {
                return Err(restored_backup(len, latest_size));
            }
            if size < latest_size {
                return Err(StoreError::Conflict(format!(
                    "checkpoint size {size} is smaller than the latest checkpoint's ({latest_size})"
                )));
            }
            if size == latest_size {
                let root = digest(row.try_get(1)?, "checkpoints.root")?;
                let note: String = row.try_get(2)?;
                if root != checkpoint.root {
                    return Err(StoreError::Conflict(format!("checkpoint {size} was signed already, with another root")));
                }
                if note != checkpoint.note {
                    return Err(StoreError::Conflict(format!("checkpoint {size} was signed already, with another note")));
                }
                // A retry of the save that went through: nothing more to store.
                return unsigned(row.try_get(3)?, "checkpoints.audit_sequence");
            }
        }
        within_log(size, len)?;
        if root_at(&mut tx, size).await? != checkpoint.root {
            return Err(StoreError::Conflict(format!("the checkpoint's root is not the audit tree's root at size {size}")));
        }
        let sequence = self.append(&mut tx, audit, now).await?;
        sqlx::query(concat!("INSERT INTO checkpoints (", checkpoint_columns!(), ", audit_sequence) VALUES ($1, $2, $3, $4, $5)"))
            .bind(signed(size, "checkpoint size")?)
            .bind(&checkpoint.root[..])
            .bind(&checkpoint.note)
            .bind(checkpoint.signed_at)
            .bind(signed(sequence, "audit sequence")?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(sequence)
    }
}
