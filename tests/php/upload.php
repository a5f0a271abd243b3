<?php
// Only for the logged-in user: a multipart upload, answered with what arrived.
session_start();
if (!isset($_SESSION['user'])) {
    http_response_code(401);
    exit("not logged in\n");
}
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $file = $_FILES['file'] ?? null;
    header('Content-Type: text/plain');
    if ($file === null || $file['error'] !== UPLOAD_ERR_OK) {
        http_response_code(400);
        exit("no file\n");
    }
    // The test compares the stored file with what it sent, byte for byte.
    move_uploaded_file($file['tmp_name'], getenv('UPLOAD_DIR') . '/uploaded');
    echo "user: {$_SESSION['user']}\n";
    echo "fields: " . implode(',', array_keys($_POST)) . "\n";
    echo "query: " . $_SERVER['QUERY_STRING'] . "\n";
    exit;
}
?>
<!doctype html>
<p id="user"><?= htmlspecialchars($_SESSION['user']) ?></p>
<form method="post" action="/upload.php" enctype="multipart/form-data">
  <input type="file" name="file"><input name="note"><button>Upload</button>
</form>
