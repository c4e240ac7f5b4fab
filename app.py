import dash
