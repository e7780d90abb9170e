package millrace.raters;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Optional;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.Rater;
import org.junit.jupiter.api.Test;

class RaterDirectoryTest {
    @Test
    void aTokenNamesItsRaterUntilRevokedAndANewTokenReplacesTheOld() {
        RaterDirectory d = new RaterDirectory();
        String token = RaterTokens.newToken();
        assertTrue(token.startsWith("mr_") && token.length() >= 3 + 43, token); // 256 bits in base64url
        d.apply("ann", new Rater("ann", RaterTokens.sha256(token), 1, null));
        assertEquals(Optional.of("ann"), d.authenticate(token));
        assertEquals(Optional.empty(), d.authenticate(token + "x"));
        assertEquals(Optional.empty(), d.authenticate(null));
        assertEquals(Optional.empty(), d.authenticate(""));
        assertEquals(1, d.active());

        d.apply("ann", new Rater("ann", RaterTokens.sha256(token), 1, 2L));
        assertEquals(Optional.empty(), d.authenticate(token), "revoked");
        assertEquals(0, d.active());
        assertTrue(d.get("ann").orElseThrow().revoked());

        String second = RaterTokens.newToken();
        d.apply("ann", new Rater("ann", RaterTokens.sha256(second), 3, null));
        assertEquals(Optional.of("ann"), d.authenticate(second));
        assertEquals(Optional.empty(), d.authenticate(token), "the old token stays dead");
        d.apply("ann", null); // a tombstone deletes the rater
        assertEquals(Optional.empty(), d.authenticate(second));
        assertTrue(d.all().isEmpty());
    }

    @Test
    void aRecordUnderAnotherNamesKeyGrantsNothing() {
        RaterDirectory d = new RaterDirectory();
        String token = RaterTokens.newToken();
        assertThrows(InvalidPayloadException.class,
                () -> d.apply("bob", new Rater("ann", RaterTokens.sha256(token), 1, null)));
        assertEquals(Optional.empty(), d.authenticate(token));
    }

    @Test
    void tokensAreRandomAndOnlyTheirHashIsKept() {
        assertNotEquals(RaterTokens.newToken(), RaterTokens.newToken());
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", RaterTokens.sha256("abc"));
    }
}
