<?php
// A login form in the way PHP apps write them: native sessions, a CSRF token kept in the session,
// and session_regenerate_id(true) after login (the old session is destroyed).
session_start();
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    if (!isset($_SESSION['csrf']) || !hash_equals($_SESSION['csrf'], $_POST['csrf'] ?? '')) {
        http_response_code(403);
        exit("csrf failed\n");
    }
    session_regenerate_id(true);
    $_SESSION['user'] = $_POST['user'] ?? '';
    header('Location: /upload.php', true, 303);
    exit;
}
$_SESSION['csrf'] = bin2hex(random_bytes(16));
?>
<!doctype html>
<form method="post" action="/login.php">
  <input name="user">
  <input type="hidden" name="csrf" value="<?= htmlspecialchars($_SESSION['csrf']) ?>">
  <button>Log in</button>
</form>
