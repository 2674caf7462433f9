#!/usr/bin/env node
// qunbot gateway: a Wechaty puppet service (gRPC, TLS disabled) for qunbot's wechaty adapter.
//
//   node gateway.js --puppet mock|wechat4u --port N --token T [--host 127.0.0.1] [--fixture fixture.json]
//                   [--control-port N] [--record FILE]
//
// --puppet mock serves wechaty-puppet-mock with a world (contacts, rooms, who is in which room, the bot's own
// contact) built from the fixture with fixed ids. The world is built once per process and completed idempotently
// whenever the puppet (re)starts (PuppetServer restarts it on every client connection): a puppet restart keeps
// the joins and leaves made so far, a new gateway process starts again from the fixture.
// A loopback HTTP control channel (127.0.0.1, --control-port, default PORT+1) lets tests make contacts speak,
// join and leave, and read what the bot sent (see CONTROL below).
//
// --puppet wechat4u (wechaty-puppet-wechat4u) logs in a real personal WeChat account through the web protocol (scan the QR
// code printed here). The control channel then only
// answers /health.
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const USAGE = 'usage: node gateway.js --puppet mock|wechat4u --port N --token T [--host 127.0.0.1] ' +
  '[--fixture PATH] [--control-port N] [--record FILE]'

function log (...parts) {
  console.log(`${new Date().toISOString()} gateway:`, ...parts)
}

function fail (message) {
  console.error(`gateway: ${message}`)
  console.error(USAGE)
  process.exit(2)
}

function parseOptions (argv) {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        puppet: { type: 'string', default: 'mock' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string' },
        token: { type: 'string', default: process.env.WECHATY_PUPPET_SERVICE_TOKEN },
        fixture: { type: 'string', default: path.join(HERE, 'fixture.json') },
        'control-port': { type: 'string' },
        record: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (e) {
    fail(e.message)
  }
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  if (!['mock', 'wechat4u'].includes(values.puppet)) fail(`--puppet must be mock or wechat4u, not ${values.puppet}`)
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail('--port N (1-65535) is required')
  if (!values.token) fail('--token T is required (the token qunbot sends; WECHATY_PUPPET_SERVICE_TOKEN also works)')
  const controlPort = values['control-port'] === undefined ? port + 1 : Number(values['control-port'])
  if (!Number.isInteger(controlPort) || controlPort < 1 || controlPort > 65535) fail('--control-port must be 1-65535')
  return { ...values, port, controlPort }
}

// ---- the mock world ----------------------------------------------------------------------------------------

function loadFixture (file) {
  let fixture
  try {
    fixture = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (e) {
    fail(`cannot read the fixture ${file}: ${e.message}`)
  }
  const contactIds = new Set((fixture.contacts || []).map((c) => c.id))
  if (!contactIds.has(fixture.self)) fail(`fixture: "self" (${fixture.self}) must be one of the contacts`)
  for (const room of fixture.rooms || []) {
    if (!String(room.id).endsWith('@chatroom')) fail(`fixture: room id ${room.id} must end in @chatroom`)
    for (const id of [...(room.members || []), ...(room.admins || []), ...(room.owner ? [room.owner] : [])]) {
      if (!contactIds.has(id)) fail(`fixture: room ${room.id} names unknown contact ${id}`)
    }
  }
  return fixture
}

function contactPayload (c) {
  return {
    id: c.id,
    name: c.name ?? c.id,
    alias: c.alias,
    avatar: '',
    friend: c.friend ?? true,
    gender: 0,
    type: 1, // PUPPET.types.Contact.Individual
    phone: [],
    star: false,
    address: '',
    city: c.city ?? '',
    province: c.province ?? '',
    signature: '',
    weixin: c.weixin,
  }
}

function roomPayload (r) {
  return {
    id: r.id,
    topic: r.topic ?? r.id,
    avatar: '',
    ownerId: r.owner,
    adminIdList: [...(r.admins || [])],
    memberIdList: [...(r.members || [])],
  }
}

async function startMock (fixture) {
  const { PuppetMock, mock } = await import('wechaty-puppet-mock')
  const mocker = new mock.Mocker()
  // Create what is missing, keep what exists (ids are fixed, so this is idempotent).
  const build = (m) => {
    for (const c of fixture.contacts) {
      if (!m.cacheContactPayload.has(c.id)) m.createContact(contactPayload(c))
    }
    for (const r of fixture.rooms || []) {
      if (!m.cacheRoomPayload.has(r.id)) m.createRoom(roomPayload(r))
    }
  }
  build(mocker)
  // Runs on every puppet start (each client connection restarts the puppet).
  mocker.use(function fixtureWorld (m) {
    build(m)
    m.login(m.ContactMock.load(fixture.self))
    log(`mock puppet started; logged in as ${fixture.self}`)
    return () => log('mock puppet stopped')
  })
  const puppet = new PuppetMock({ mocker })
  return { puppet, mocker }
}

// What the bot sent, in order; persisted to --record (JSON lines) so it survives a gateway restart.
class SentLog {
  constructor (file) {
    this.file = file
    this.items = []
    if (file && fs.existsSync(file)) {
      this.items = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line))
    }
  }

  add (item) {
    const entry = { seq: this.items.length + 1, at: new Date().toISOString(), ...item }
    entry.isRoom = String(entry.conversationId).endsWith('@chatroom')
    this.items.push(entry)
    if (this.file) fs.appendFileSync(this.file, JSON.stringify(entry) + '\n')
    log(`bot sent #${entry.seq} ${entry.kind} to ${entry.conversationId}: ${JSON.stringify(entry.text ?? entry.name ?? entry.contactId)}` +
      (entry.mentionIds?.length ? ` mentions=${entry.mentionIds.join(',')}` : ''))
  }

  clear () {
    this.items = []
    if (this.file) fs.writeFileSync(this.file, '')
  }
}

function recordSends (puppet, mocker, sent) {
  const sendText = puppet.messageSendText.bind(puppet)
  puppet.messageSendText = async (conversationId, text, mentionIdList) => {
    const id = await sendText(conversationId, text, mentionIdList)
    sent.add({ kind: 'text', conversationId, text, mentionIds: [...(mentionIdList || [])] })
    return id
  }
  const sendFile = puppet.messageSendFile.bind(puppet)
  puppet.messageSendFile = async (conversationId, file) => {
    const id = await sendFile(conversationId, file)
    sent.add({ kind: 'file', conversationId, name: file?.name, mentionIds: [] })
    return id
  }
  // The mock's roomDel does nothing; make it remove the member and emit room-leave, as WeChat does.
  puppet.roomDel = async (roomId, contactId) => {
    const room = mocker.RoomMock.load(roomId)
    const contact = mocker.ContactMock.load(contactId)
    const bot = mocker.ContactMock.load(puppet.currentUserId)
    room.remove(contact).by(bot)
    await puppet.dirtyPayload(3, roomId) // PUPPET.types.Payload.Room
    sent.add({ kind: 'remove', conversationId: roomId, contactId, mentionIds: [] })
  }
}

// ---- control channel ---------------------------------------------------------------------------------------
// CONTROL (JSON over HTTP on 127.0.0.1):
//   GET  /health                                   {ok, puppet, port, loggedIn, clientConnected, sent}
//   GET  /world                                    the fixture and the rooms' current member ids
//   POST /room/say  {room, from, text, mentions?}  a contact says text in a room, mentioning contact ids
//   POST /dm        {from, text}                   a contact says text privately to the bot
//   POST /room/join {room, contact, inviter}       a contact joins a room (inviter: a contact id)
//   POST /room/leave {room, contact, remover?}     a contact leaves (or is removed by remover)
//   GET  /sent?since=N                             what the bot sent after seq N: {messages: [...], last}
//   POST /reset                                    forget what the bot sent
// Errors answer 4xx with {error}. Speaking while no client is connected answers 409 (the event would be lost).

class HttpError extends Error {
  constructor (status, message) {
    super(message)
    this.status = status
  }
}

function controlHandlers ({ options, puppet, mocker, sent, fixture }) {
  const clientConnected = () => Boolean(puppet && puppet.isLoggedIn && puppet.listenerCount('message') > 0)
  const need = (body, ...keys) => {
    for (const k of keys) {
      if (typeof body[k] !== 'string' || !body[k]) throw new HttpError(400, `missing string field "${k}"`)
    }
  }
  const contact = (id) => {
    if (!mocker.cacheContactPayload.has(id)) throw new HttpError(404, `unknown contact ${id}`)
    return mocker.ContactMock.load(id)
  }
  const room = (id) => {
    if (!mocker.cacheRoomPayload.has(id)) throw new HttpError(404, `unknown room ${id}`)
    return mocker.RoomMock.load(id)
  }
  const requireClient = () => {
    if (!clientConnected()) throw new HttpError(409, 'no qunbot client is connected and logged in; the event would be lost')
  }
  const lastMessageId = () => [...mocker.cacheMessagePayload.keys()].pop()
  return {
    'GET /health': () => ({
      ok: true,
      puppet: options.puppet,
      port: options.port,
      loggedIn: Boolean(puppet?.isLoggedIn),
      clientConnected: clientConnected(),
      sent: sent ? sent.items.length : 0,
    }),
    'GET /world': () => ({
      ...fixture,
      rooms: fixture.rooms.map((r) => ({ ...r, members: [...mocker.roomPayload(r.id).memberIdList] })),
    }),
    'POST /room/say': (body) => {
      need(body, 'room', 'from', 'text')
      const r = room(body.room)
      const who = contact(body.from)
      const mentions = (body.mentions || []).map(contact)
      requireClient()
      who.say(body.text, mentions).to(r)
      return { messageId: lastMessageId() }
    },
    'POST /dm': (body) => {
      need(body, 'from', 'text')
      const who = contact(body.from)
      requireClient()
      who.say(body.text).to(mocker.ContactMock.load(fixture.self))
      return { messageId: lastMessageId() }
    },
    'POST /room/join': (body) => {
      need(body, 'room', 'contact', 'inviter')
      const r = room(body.room)
      const who = contact(body.contact)
      const by = contact(body.inviter)
      if (r.payload.memberIdList.includes(who.id)) throw new HttpError(409, `${who.id} is already in ${r.id}`)
      requireClient()
      r.add(who).by(by)
      return { members: [...r.payload.memberIdList] }
    },
    'POST /room/leave': (body) => {
      need(body, 'room', 'contact')
      const r = room(body.room)
      const who = contact(body.contact)
      const by = body.remover ? contact(body.remover) : who
      if (!r.payload.memberIdList.includes(who.id)) throw new HttpError(409, `${who.id} is not in ${r.id}`)
      requireClient()
      r.remove(who).by(by)
      return { members: [...r.payload.memberIdList] }
    },
    'GET /sent': (_body, url) => {
      const since = Number(url.searchParams.get('since') || 0)
      const messages = sent.items.filter((m) => m.seq > since)
      return { messages, last: sent.items.length }
    },
    'POST /reset': () => {
      sent.clear()
      return { ok: true }
    },
  }
}

function startControl (options, handlers) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1')
    const reply = (status, obj) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
      res.end(JSON.stringify(obj))
    }
    const handler = handlers[`${req.method} ${url.pathname}`]
    if (!handler) return reply(404, { error: `no such endpoint: ${req.method} ${url.pathname}` })
    let raw = ''
    req.setEncoding('utf8')
    req.on('data', (chunk) => { raw += chunk })
    req.on('end', () => {
      try {
        let body = {}
        if (raw.trim()) {
          try {
            body = JSON.parse(raw)
          } catch (e) {
            throw new HttpError(400, `body is not JSON: ${e.message}`)
          }
        }
        const result = handler(body, url)
        if (req.method === 'POST') log(`control ${url.pathname} ${raw}`)
        reply(200, result)
      } catch (e) {
        log(`control ${url.pathname} failed: ${e.message}`)
        reply(e.status || 500, { error: e.message })
      }
    })
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.controlPort, '127.0.0.1', () => resolve(server))
  })
}

// ---- main --------------------------------------------------------------------------------------------------

async function main () {
  const options = parseOptions(process.argv.slice(2))
  const { PuppetServer } = await import('wechaty-puppet-service')
  let world = {}
  let puppet
  if (options.puppet === 'mock') {
    const fixture = loadFixture(options.fixture)
    const { puppet: p, mocker } = await startMock(fixture)
    puppet = p
    const sent = new SentLog(options.record)
    recordSends(puppet, mocker, sent)
    world = { puppet, mocker, sent, fixture }
  } else {
    let PuppetWechat4u
    try {
      ({ PuppetWechat4u } = await import('wechaty-puppet-wechat4u'))
    } catch (e) {
      fail(`--puppet wechat4u needs the package wechaty-puppet-wechat4u (${e.message}); ` +
        `run "npm ci" in ${HERE}`)
    }
    puppet = new PuppetWechat4u()
    puppet.on('scan', ({ qrcode, status }) => {
      if (qrcode) log(`scan to log in (status ${status}): https://wechaty.js.org/qrcode/${encodeURIComponent(qrcode)}`)
    })
    puppet.on('login', ({ contactId }) => log(`logged in as ${contactId}`))
    puppet.on('logout', ({ contactId }) => log(`logged out (${contactId})`))
  }

  const handlers = options.puppet === 'mock'
    ? controlHandlers({ options, ...world })
    : { 'GET /health': () => ({ ok: true, puppet: options.puppet, port: options.port, loggedIn: Boolean(puppet.isLoggedIn) }) }

  const server = new PuppetServer({
    endpoint: `${options.host}:${options.port}`,
    puppet,
    token: options.token,
    tls: { disable: true },
  })
  try {
    await server.start()
  } catch (e) {
    console.error(`gateway: cannot serve on ${options.host}:${options.port}: ${e.message}`)
    process.exit(1)
  }
  let control
  try {
    control = await startControl(options, handlers)
  } catch (e) {
    console.error(`gateway: cannot open the control channel on 127.0.0.1:${options.controlPort}: ${e.message}`)
    process.exit(1)
  }
  log(`puppet service (${options.puppet}, TLS disabled) on ${options.host}:${options.port}; ` +
    `control channel on 127.0.0.1:${options.controlPort}`)

  let stopping = false
  const shutdown = async (signal) => {
    if (stopping) return
    stopping = true
    log(`${signal}: stopping`)
    const force = setTimeout(() => process.exit(0), 3000)
    force.unref()
    control.close()
    try {
      await server.stop()
    } catch (e) {
      log(`stop failed: ${e.message}`)
    }
    process.exit(0)
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
}

main().catch((e) => {
  console.error(`gateway: ${e.stack || e}`)
  process.exit(1)
})
