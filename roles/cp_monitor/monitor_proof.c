/* monitor_proof.c: the MACs of the monitor's links. Central's half of M1
 * (CHALLENGE, proof key K derived off the loop and cached, PROOF/REGISTER)
 * is the SDK's CP session (evc/cplink.h, monitor_central.c); what is left
 * here is the engine link's (M2): its key LK from the CP id and secret and
 * the MACs of HELLO_CHALLENGE/HELLO_PROOF. */
#include "monitor.h"

void monitor_proof_mac(const uint8_t key[EVC_PROOF_KEY_BYTES], const char *label,
                       const char *cp_id, const uint8_t *nonce_m, const uint8_t *nonce_c,
                       char out_hex[EVC_PROOF_HEX_SIZE])
{
    evc_proof_nonce_mac(key, label, cp_id, nonce_m, nonce_c, out_hex);
}

void monitor_link_key(const char *cp_id, const char *secret, uint8_t out[EVC_PROOF_KEY_BYTES])
{
    static const uint8_t zero[EVC_PROOF_KEY_BYTES];
    const char *parts[] = {cp_id, secret};
    evc_proof_mac(zero, "evc-link-v1", parts, 2, out);
}
