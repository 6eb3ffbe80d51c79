import { describe, expect, it } from 'vitest';
import { type BridgeChange, BridgeRefusal, planBridgeChange } from '../../src/bridge/change.js';
import { judgePlacement } from '../../src/bridge/checks.js';
import { planRollbackTimer, restoreScript, rollbackSeconds } from '../../src/bridge/rollback-timer.js';
import { type BridgeState, parseBridgeState } from '../../src/bridge/state.js';
import type { Uplink } from '../../src/facts/network.js';
import type { Host } from '../../src/host/host.js';
import { useLanguage } from '../../src/lib/i18n.js';
import { bridgeStep } from '../../src/steps/bridge.js';
import { placementWaits } from '../../src/steps/bridge-actions.js';

const wifi: Uplink = {
  name: 'wlan0',
  mac: '52:54:00:12:34:56',
  mtu: 1500,
  wireless: true,
  isBridge: false,
  addresses: [{ address: '198.51.100.10', prefix: 24, dynamic: true }] as Uplink['addresses'],
  dns: [],
};

/** The refusal planBridgeChange throws for this uplink (it refuses before it reads the host). */
async function refusal(uplink: Uplink, system: BridgeChange['system'] = 'ifupdown'): Promise<BridgeRefusal> {
  const error = await planBridgeChange({} as Host, { bridge: 'br0', uplink, system }).catch(
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BridgeRefusal);
  return error as BridgeRefusal;
}

/** Runs `body` in Vietnamese, English again afterwards whatever happens. */
async function inVietnamese<T>(body: () => Promise<T> | T): Promise<T> {
  await useLanguage('vi');
  try {
    return await body();
  } finally {
    await useLanguage('en');
  }
}

describe('kvmkit bridge in Vietnamese', () => {
  it('refuses a Wi-Fi uplink in Vietnamese, message and hint, the names and the command kept', async () => {
    const error = await inVietnamese(() => refusal(wifi));
    expect(error.message).toBe(
      'wlan0 là card Wi-Fi, không thể đưa vào bridge (điểm truy cập chỉ nhận khung tin mang đúng địa chỉ của chính máy đã kết nối)',
    );
    expect(error.hint).toContain('hãy giữ mạng NAT của libvirt (default)');
    expect(error.hint).toContain("kvmkit vm create --network … với một <interface type='direct'>");
    // And English again once the language is back.
    const english = await refusal(wifi);
    expect(english.message).toBe(
      "wlan0 is Wi-Fi, which cannot be bridged (an access point accepts frames only from the station's own address)",
    );
  });

  it('says why NetworkManager without a connection is refused, and what to run', async () => {
    const error = await inVietnamese(() =>
      refusal({ ...wifi, name: 'eth0', wireless: false }, 'NetworkManager'),
    );
    expect(error.message).toBe('NetworkManager không có kết nối nào đang hoạt động trên eth0');
    expect(error.hint).toBe('chạy nmcli device connect eth0, rồi thử lại');
  });

  it('tells a damaged state file in Vietnamese, with the commands to run as they are', async () => {
    const error = await inVietnamese(() => {
      try {
        parseBridgeState('[]');
      } catch (e) {
        return e as BridgeRefusal;
      }
      throw new Error('parsed');
    });
    expect(error.message).toBe(
      '/var/lib/kvmkit/bridge.json bị hỏng (không phải một đối tượng JSON), nên kvmkit không biết cách gỡ bridge của mình',
    );
    expect(error.hint).toContain('sudo sh /var/lib/kvmkit/bridge-restore.sh');
    expect(error.hint).toContain('sudo mv /var/lib/kvmkit/bridge.json /var/lib/kvmkit/bridge.json.damaged');
  });

  it("says what the checks saw, the waits' names and the step's title in Vietnamese", async () => {
    const placement = { carrier: 'br0', port: 'eth0', addresses: ['198.51.100.10/24'], defaultRoute: true };
    const facts = {
      links: [{ ifname: 'br0' }, { ifname: 'eth0' }],
      addrs: [{ ifname: 'eth0', addr_info: [{ family: 'inet', local: '198.51.100.10', prefixlen: 24 }] }],
      routes4: [{ dst: 'default', dev: 'eth0', gateway: '198.51.100.1' }],
      routes6: [],
    };
    const { seen, waits, title } = await inVietnamese(() => ({
      seen: judgePlacement(placement, facts).seen,
      waits: placementWaits(placement).map((a) => (a.kind === 'wait' ? a.wait.what : '')),
      title: bridgeStep().title,
    }));
    expect(seen).toContain('br0 không giữ 198.51.100.10/24 (địa chỉ trước đây của eth0)');
    expect(seen).toContain('eth0 không là cổng của bridge nào, trong khi phải là cổng của br0');
    expect(seen).toContain('tuyến mặc định đi qua eth0 (198.51.100.1), không phải br0');
    expect(waits).toContain('eth0 trở thành cổng của br0');
    expect(waits).toContain('tuyến mặc định đi qua br0');
    expect(title).toBe('Đưa uplink vào bridge br0 (cho máy ảo vào mạng LAN)');
  });

  it('keeps the restore script English (it runs on the host, into a log), and the timer setting error Vietnamese', async () => {
    const change = {
      bridge: 'br0',
      uplink: 'eth0',
      system: 'ifupdown',
      addressing: { dhcp: true, addresses: [], dns: [], mtu: 1500, mac: '52:54:00:12:34:56' },
      files: [],
      down: [],
      up: [],
      undoDown: [{ argv: ['ifdown', 'br0'] }],
      undoUp: [{ argv: ['ifup', 'eth0'] }],
      timer: planRollbackTimer({ systemd: true, seconds: 60 }),
    } satisfies BridgeChange;
    const state: BridgeState = { phase: 'applying', change, backups: [], at: '2026-01-01T00:00:00Z' };
    const english = restoreScript(state);
    const { script, rangeError } = await inVietnamese(() => {
      let rangeError = '';
      try {
        rollbackSeconds('2');
      } catch (e) {
        rangeError = (e as Error).message;
      }
      return { script: restoreScript(state), rangeError };
    });
    expect(script).toBe(english);
    expect(script).toContain("'kvmkit: rolling back br0'");
    expect(rangeError).toBe('KVMKIT_BRIDGE_CONFIRM_TIMEOUT=2: phải là số giây nguyên, ít nhất là 5');
  });
});
