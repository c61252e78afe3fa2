from __future__ import annotations

from soma_sdk import Keypair


async def test_faucet_and_balance(devnet):
    client = await devnet.client()
    kp = Keypair.generate()
    resp = await client.request_faucet(kp.address())
    assert resp.status == "Success"
    assert await client.get_balance(kp.address()) == 2.0
    devnet.fund(kp.address(), soma=3)
    assert await client.get_balance(kp.address()) == 5.0
    assert devnet.advance() == 1
    assert (await client.get_latest_system_state()).epoch == 1


async def test_shared_devnet_serves_the_session(shared_devnet):
    client = await shared_devnet.client()
    kp = Keypair.generate()
    shared_devnet.fund(kp.address(), soma=1.5)
    assert await client.get_balance(kp.address()) == 1.5
    assert shared_devnet.profile.is_devnet
    assert shared_devnet.profile.rpc_url == shared_devnet.rpc_url
